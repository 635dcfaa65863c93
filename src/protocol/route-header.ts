import { HEADER_SIZE, MAX_BODY } from './constants.ts';
import { ProtocolError, ProtocolErrorCode } from './errors.ts';
import { TWO_32, readI64 } from './int64.ts';

/**
 * The fixed part of a route message (PUBLISH, PUBLISH_GROUP, PUBLISH_ROOM bodies): appid,
 * receiver, msgid, device_id, timestamp (int64 each), int16 length, then the framed client
 * message. Routers and the Channel read only these fields; the embedded frame is forwarded
 * or handed on as bytes.
 */
export const Route = { APPID: 0, RECEIVER: 8, MSGID: 16, DEVICE_ID: 24, TIMESTAMP: 32, LENGTH: 40, FRAME: 42 } as const;

/**
 * The largest message body that still crosses servers: a route message holds the whole
 * framed message behind 42 bytes of its own, and a router frame is bound by the same 32 KiB
 * as any other (a GoBelieve router closes the link on a larger one). An access server linked
 * to routers accepts no larger body from its clients or its HTTP API.
 */
export const ROUTED_MAX_BODY = MAX_BODY - Route.FRAME - HEADER_SIZE;

export interface RouteHeader {
  appid: number;
  receiver: number;
  msgid: number;
  /** Where the embedded frame starts and ends in the body. */
  frameStart: number;
  frameEnd: number;
}

/** Reads and checks a route message's header; the embedded frame is left in place. */
export function readRouteHeader(body: Buffer): RouteHeader | ProtocolError {
  if (body.length < Route.FRAME) {
    return new ProtocolError(ProtocolErrorCode.BODY_TOO_SHORT, `route message of ${body.length} bytes is too short`);
  }
  const appid = readI64(body, Route.APPID);
  const receiver = readI64(body, Route.RECEIVER);
  const msgid = readI64(body, Route.MSGID);
  if (Number.isNaN(appid) || Number.isNaN(receiver) || Number.isNaN(msgid)) {
    return new ProtocolError(ProtocolErrorCode.ID_RANGE, 'route message id beyond ±2^53');
  }
  const n = body.readInt16BE(Route.LENGTH);
  if (n < 0 || Route.FRAME + n > body.length) {
    return new ProtocolError(ProtocolErrorCode.BODY_MALFORMED, `route message frame length ${n} does not fit its body`);
  }
  return { appid, receiver, msgid, frameStart: Route.FRAME, frameEnd: Route.FRAME + n };
}

/** The publisher's timestamp (ns since the epoch) as a double: enough for latency. */
export function routeTimestampNs(body: Buffer): number {
  return body.readInt32BE(Route.TIMESTAMP) * TWO_32 + body.readUInt32BE(Route.TIMESTAMP + 4);
}
