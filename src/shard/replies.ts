import { Cmd, codecs, encodeBody, outFrame, type OutFrame } from '../protocol/index.ts';

const EMPTY = Buffer.alloc(0);
export const PONG: OutFrame = outFrame(Cmd.PONG, 0, EMPTY);

/** ACK of a client frame's seq, in the layout of the client's version (status from v2 on). */
export function ack(seq: number, version: number, status = 0, flag = 0): OutFrame {
  return outFrame(Cmd.ACK, flag, encodeBody(codecs.ACK, { seq, status }, version));
}

export function authStatus(status: number): OutFrame {
  return outFrame(Cmd.AUTH_STATUS, 0, encodeBody(codecs.AUTH_STATUS, { status }, 0));
}
