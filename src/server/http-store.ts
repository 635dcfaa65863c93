import { Cmd, codecs } from '../protocol/index.ts';
import { HttpError, intParam, sendJson, type Handler } from '../http/json.ts';
import type { StoreClient } from '../store/client.ts';
import { LATEST_CMDS, QueueKind, type StoredMessage } from '../store/types.ts';

const MAX_LATEST = 1000;

/** A stored message as the reference's HTTP API shows it (docs/store.md, "The HTTP API"); other cmds are left out. */
function json(m: StoredMessage): object | undefined {
  const b = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
  if (m.cmd === Cmd.IM || m.cmd === Cmd.GROUP_IM) {
    const x = codecs.IM.forVersion(2).decode(b, 0, b.length);
    if (x instanceof Error) return undefined;
    return { id: m.key, command: m.cmd, sender: x.sender, receiver: x.receiver, timestamp: x.timestamp, content: x.content.toString('utf8') };
  }
  if (m.cmd === Cmd.CUSTOMER_V2) {
    const x = codecs.CUSTOMER_V2.forVersion(2).decode(b, 0, b.length);
    if (x instanceof Error) return undefined;
    return {
      id: m.key, command: m.cmd, sender: x.sender, receiver: x.receiver, timestamp: x.timestamp, content: x.content.toString('utf8'),
      sender_appid: x.sender_appid, receiver_appid: x.receiver_appid,
    };
  }
  if (m.cmd === Cmd.GROUP_NOTIFICATION || m.cmd === Cmd.SYSTEM) {
    return { id: m.key, command: m.cmd, sender: 0, receiver: 0, timestamp: 0, content: b.toString('utf8') };
  }
  return undefined;
}

const list = (ms: StoredMessage[]) => ms.map(json).filter((x) => x !== undefined);

/** The store's HTTP API (docs/store.md, "The HTTP API"): latest and history messages, offline counts. */
export function storeRoutes(store: StoreClient | undefined, syncLimit: number): Record<string, Handler> {
  const need = (): StoreClient => {
    if (store === undefined) throw new HttpError(404, 'the message store is off (IM_STORE=off)');
    return store;
  };
  const internal = (status: number) => (err: unknown): never => {
    throw new HttpError(status, `internal error: ${(err as Error).message}`);
  };
  return {
    '/load_latest_message': async (_req, url, res) => {
      const s = need();
      const appid = intParam(url, 'appid');
      const uid = intParam(url, 'uid');
      const limit = Math.min(MAX_LATEST, Math.max(1, intParam(url, 'limit')));
      const ms = await s.call({ op: 'latest', appid, uid, cmds: [...LATEST_CMDS], limit }).catch(internal(400));
      sendJson(res, 200, { data: list(ms) });
    },
    '/load_history_message': async (_req, url, res) => {
      const s = need();
      const appid = intParam(url, 'appid');
      const uid = intParam(url, 'uid');
      const after = intParam(url, 'last_id');
      const page = await s.call({ op: 'page', q: { appid, kind: QueueKind.USER, owner: uid }, after, limit: syncLimit }).catch(internal(500));
      sendJson(res, 200, { data: list(page.messages) });
    },
    '/get_offline_count': async (_req, url, res) => {
      const s = need();
      const appid = intParam(url, 'appid');
      const uid = intParam(url, 'uid');
      let after = url.searchParams.has('sync_key') ? intParam(url, 'sync_key') : 0;
      if (after === 0) after = await s.call({ op: 'acked', appid, uid, gid: 0 }).catch(internal(500));
      const count = await s.call({ op: 'count', appid, uid, after }).catch(internal(500));
      sendJson(res, 200, { data: { count } });
    },
  };
}
