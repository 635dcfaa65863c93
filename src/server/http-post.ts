import type http from 'node:http';
import { HttpError, intArrayField, intField, intParam, readBody, readJson, sendJson, type Handler } from '../http/json.ts';
import { codecs } from '../protocol/index.ts';
import type { PostRequest } from '../shard/control.ts';
import type { PoolQueries } from './pool-queries.ts';

const MAX_RECEIVERS = 10_000;

/** Failures of a part the post waits on (the names survive the call between threads): 503, the client may retry. */
const UNAVAILABLE = new Set(['StoreError', 'DeadlineError', 'GroupSourceError', 'NoShardError']);

/** What a posted message's body holds besides its content: ids and a timestamp. */
const FIELDS: Record<PostRequest['type'], number> = {
  peer: codecs.IM.forVersion(2).minSize,
  group: codecs.GROUP_IM.forVersion(2).minSize,
  customer: codecs.CUSTOMER_V2.forVersion(2).minSize,
  realtime: codecs.RT.forVersion(2).minSize,
  room: codecs.ROOM_IM.forVersion(2).minSize,
  notification: 0, system: 0, group_notification: 0,
};

/** The most content a post of `type` may carry: its body, fields and all, within IM_MAX_BODY. */
export function contentLimit(maxBody: number, type: PostRequest['type']): number {
  return maxBody - FIELDS[type];
}

/**
 * The reference's message endpoints. Each posted message is routed by a shard (taken in
 * turn) exactly as a client's message is: locally, through the Channel, and to offline push.
 */
export function postRoutes(pool: PoolQueries, maxBody: number): Record<string, Handler> {
  const route = async (res: http.ServerResponse, p: PostRequest) => {
    const r = await pool.post(p).catch((err: unknown) => {
      if (UNAVAILABLE.has((err as Error).name)) throw new HttpError(503, `not posted: ${(err as Error).message}`);
      throw err;
    });
    if (r !== 0) throw new HttpError(404, 'group does not exist');
    sendJson(res, 200, { data: {} });
  };
  const content = async (req: http.IncomingMessage, type: PostRequest['type']) => {
    const b = await readBody(req, contentLimit(maxBody, type));
    if (b.length === 0) throw new HttpError(400, 'empty content');
    return new Uint8Array(b);
  };
  const post = (h: Handler): Handler => (req, url, res) => {
    if (req.method !== 'POST') throw new HttpError(405, 'use POST');
    return h(req, url, res);
  };
  const text = (o: Record<string, unknown>, name: string, type: PostRequest['type']) => {
    const v = o[name];
    if (typeof v !== 'string' || v.length === 0) throw new HttpError(400, `${name} must be a non-empty string`);
    const b = Buffer.from(v, 'utf8');
    const limit = contentLimit(maxBody, type);
    if (b.length > limit) throw new HttpError(413, `${name} is larger than ${limit} bytes`);
    return new Uint8Array(b);
  };
  return {
    '/post_peer_message': post(async (req, url, res) => route(res, {
      type: 'peer', appid: intParam(url, 'appid'), sender: intParam(url, 'sender'), receiver: intParam(url, 'receiver'), content: await content(req, 'peer'),
    })),
    '/post_realtime_message': post(async (req, url, res) => route(res, {
      type: 'realtime', appid: intParam(url, 'appid'), sender: intParam(url, 'sender'), receiver: intParam(url, 'receiver'), content: await content(req, 'realtime'),
    })),
    '/post_room_message': post(async (req, url, res) => route(res, {
      type: 'room', appid: intParam(url, 'appid'), sender: intParam(url, 'uid'), room: intParam(url, 'room'), content: await content(req, 'room'),
    })),
    '/post_notification': post(async (req, url, res) => route(res, {
      type: 'notification', appid: intParam(url, 'appid'), uid: intParam(url, 'uid'), content: await content(req, 'notification'),
    })),
    '/post_system_message': post(async (req, _url, res) => {
      const b = await readJson(req);
      await route(res, { type: 'system', appid: intField(b, 'appid'), receivers: intArrayField(b, 'receivers', MAX_RECEIVERS), content: text(b, 'content', 'system') });
    }),
    '/post_customer_message': post(async (req, _url, res) => {
      const b = await readJson(req);
      await route(res, {
        type: 'customer', senderAppid: intField(b, 'sender_appid'), sender: intField(b, 'sender'),
        receiverAppid: intField(b, 'receiver_appid'), receiver: intField(b, 'receiver'), appid: intField(b, 'sender_appid'), content: text(b, 'content', 'customer'),
      });
    }),
    '/post_group_notification': post(async (req, _url, res) => {
      const b = await readJson(req);
      await route(res, {
        type: 'group_notification', appid: intField(b, 'appid'), gid: intField(b, 'group_id'),
        members: b.members === undefined ? undefined : intArrayField(b, 'members', MAX_RECEIVERS), content: text(b, 'notification', 'group_notification'),
      });
    }),
  };
}
