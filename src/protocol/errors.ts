/**
 * Why a peer's bytes were rejected. Every rule of docs/protocol.md that input can break has
 * one code; the connection that sent it is closed, nothing else is touched.
 */
export const ProtocolErrorCode = {
  /** Body length field < 0 or above the limit. */
  BODY_LENGTH: 'ERR_BODY_LENGTH',
  /** A cmd this side does not accept from this peer (unknown cmds included). */
  CMD_NOT_ALLOWED: 'ERR_CMD_NOT_ALLOWED',
  /** The body is shorter than its cmd's layout requires. */
  BODY_TOO_SHORT: 'ERR_BODY_TOO_SHORT',
  /** A length prefix inside the body points past its end, or is negative. */
  BODY_MALFORMED: 'ERR_BODY_MALFORMED',
  /** An int64 id outside the range this implementation represents exactly (±2^53). */
  ID_RANGE: 'ERR_ID_RANGE',
  /** A WebSocket text message: the protocol is binary only. */
  TEXT_MESSAGE: 'ERR_TEXT_MESSAGE',
} as const;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;
  /** The frame's cmd when the header was readable, else -1. */
  readonly cmd: number;

  constructor(code: ProtocolErrorCode, message: string, cmd = -1) {
    super(message);
    this.code = code;
    this.cmd = cmd;
  }
}
