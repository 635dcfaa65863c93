import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { ImClient, SyncedMessage } from '../../src/client/index.ts';
import { SqliteGroupSource } from '../../src/groups/sqlite.ts';
import { login, startIm, type Im } from '../helpers/im.ts';
import { builtEntry, httpJson } from '../helpers/process.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { loud } from '../helpers/loud.ts';

/** GoBelieve's own store and what its server answered to every sync, recorded from its source. */
export const FIXTURE = new URL('../fixtures/gobelieve-ims/', import.meta.url).pathname;

interface FixtureMessage {
  key: number; cmd: number; cmd_name: string; sender?: number; receiver?: number; timestamp?: number; msgid?: number;
  sender_appid?: number; receiver_appid?: number; content?: string; content_b64?: string;
}
interface RecordedSync {
  kind: 'peer' | 'group'; label: string; appid: number; uid: number; gid?: number;
  device_id: string; platform: number; key: number; end: number; messages: [number, number][];
}
interface Expected {
  appid: number; normal_group: number; super_group: number; group_members: number[];
  queues: { peer: Record<string, FixtureMessage[]>; group: Record<string, FixtureMessage[]> };
  syncs: RecordedSync[];
  log: { max_key: number };
}

export const expected = (): Expected => JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as Expected;

/** redis.json into a real Redis: hashes as hashes, strings as strings. */
export async function loadRedis(r: RedisServer): Promise<void> {
  const entries = JSON.parse(readFileSync(join(FIXTURE, 'redis.json'), 'utf8')) as Record<string, string | Record<string, string>>;
  for (const [k, v] of Object.entries(entries)) {
    if (typeof v === 'string') await r.client.set(k, v);
    else await r.client.hset(k, v);
  }
}

/** Runs bin/im-import's entry point with `env`; resolves its exit code and output. */
export function runImport(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [builtEntry('src/import/main.ts'), ...args], { env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

/** The fixture's groups, with their own ids, in a fresh embedded group source. */
function groupDb(e: Expected): string {
  const file = join(mkdtempSync(join(tmpdir(), 'im-groups-')), 'groups.db');
  void new SqliteGroupSource(file).close();
  const db = new DatabaseSync(file);
  for (const [gid, sup] of [[e.normal_group, 0], [e.super_group, 1]] as const) {
    db.prepare('INSERT INTO "group" (id, appid, master, super, name, notice) VALUES (?, ?, ?, ?, ?, ?)').run(gid, e.appid, e.group_members[0]!, sup, `g${gid}`, '');
    for (const uid of e.group_members) db.prepare('INSERT INTO group_member (group_id, uid, timestamp) VALUES (?, ?, 0)').run(gid, uid);
  }
  db.close();
  return file;
}

function same(got: SyncedMessage, want: FixtureMessage, where: string): void {
  assert.is(got.cmd, want.cmd, `${where}: cmd`);
  const body = got.body as Record<string, unknown>;
  const content = body.content as Buffer;
  if (want.content_b64 !== undefined) assert.is(content.toString('base64'), want.content_b64, `${where}: content`);
  else assert.is(content.toString(), want.content, `${where}: content`);
  for (const f of ['sender', 'receiver', 'timestamp', 'msgid', 'sender_appid', 'receiver_appid'] as const) {
    if (want[f] !== undefined) assert.is(body[f], want[f], `${where}: ${f}`);
  }
}

/**
 * The fixture imported with its Redis, a server started on the result: every recorded sync
 * answers as GoBelieve did, key for key (order, cmd, body, SELF flag, SYNC_END), and a new
 * message follows the imported ones. `env` chooses the store (and starts what it needs).
 */
export function fixtureSuite(name: string, store: () => Promise<{ env: Record<string, string>; stop(): Promise<void> }>): void {
  const s = suite(`GoBelieve import into ${name}`);
  const e = expected();
  let redis: RedisServer;
  let target: { env: Record<string, string>; stop(): Promise<void> };
  let im: Im;
  const clients: ImClient[] = [];
  const on = async (appid: number, uid: number, deviceId: string, platform: number) => {
    const c = await login(im, appid, uid, { deviceId, platform });
    clients.push(c);
    return c;
  };

  s.before(loud(async () => {
    redis = await startRedis();
    await loadRedis(redis);
    target = await store();
    const r = await runImport(['--ims', join(FIXTURE, 'ims'), '--redis', redis.url, '--settle-ms', '200'], target.env);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /messages written: 732\n/);
    assert.match(r.stdout, /acknowledged keys: 14\n/);
    im = await startIm({ ...target.env, IM_SHARDS: '2', IM_GROUP_DB: groupDb(e), IM_SYNC_LIMIT: '3000' });
  }));

  s.after(loud(async () => {
    for (const c of clients) c.destroy();
    assert.is(await im?.stop(), 0);
    await target?.stop();
    await redis?.stop();
  }));

  s('every recorded SYNC and SYNC_GROUP answers as GoBelieve did, key for key', async () => {
    for (const rec of e.syncs) {
      const where = `${rec.kind} ${rec.label} ${rec.appid}/${rec.uid}${rec.gid ? ` group ${rec.gid}` : ''} from ${rec.key}`;
      const c = await on(rec.appid, rec.uid, rec.device_id, rec.platform);
      const r = rec.kind === 'peer' ? await c.sync(rec.key) : await c.syncGroup(rec.gid!, rec.key);
      const queue = rec.kind === 'peer' ? e.queues.peer[`${rec.appid}:${rec.uid}`]! : e.queues.group[`${rec.appid}:${rec.gid}`]!;
      const byKey = new Map(queue.map((m) => [m.key, m]));
      assert.is(r.messages.length, rec.messages.length, `${where}: messages`);
      rec.messages.forEach(([key, flag], i) => {
        same(r.messages[i]!, byKey.get(key)!, `${where} #${i} (key ${key})`);
        assert.is(r.messages[i]!.flag, flag, `${where} #${i} (key ${key}): flag`);
      });
      assert.is(r.key, rec.end, `${where}: SYNC_END`);
      c.destroy();
    }
  });

  s('a new message gets a key above every imported one: a sync from the last imported key returns it alone', async () => {
    const [a, b] = [await on(e.appid, 1, 'new-a', 2), await on(e.appid, 2, 'new-b', 2)];
    const last = e.queues.peer[`${e.appid}:2`]!.at(-1)!.key;
    const ack = await a.sendIM({ receiver: 2, content: 'after the switch' });
    assert.is(ack.status, 0);
    const r = await b.sync(last);
    assert.is(r.messages.length, 1);
    assert.is((r.messages[0]!.body as { content: Buffer }).content.toString(), 'after the switch');
    assert.is(r.key, last + 1);
    assert.ok(r.key > e.log.max_key || r.key > last);
    const again = await b.sync(r.key);
    assert.is(again.messages.length, 0);
    assert.is(again.key, r.key);
  });

  s('the HTTP history endpoints on imported keys: history after a key, the offline count, the latest messages', async () => {
    const queue = e.queues.peer[`${e.appid}:3`]!;
    const k = queue[9]!.key;
    const history = await httpJson(im.httpPort, `/load_history_message?appid=${e.appid}&uid=3&last_id=${k}`);
    // Every kind this endpoint shows (IM, GROUP_IM, CUSTOMER_V2, GROUP_NOTIFICATION, SYSTEM), oldest first.
    assert.equal((history.body.data as { id: number }[]).map((m) => m.id), queue.slice(10).map((m) => m.key));
    const count = await httpJson(im.httpPort, `/get_offline_count?appid=${e.appid}&uid=3&sync_key=${k}`);
    assert.is(count.body.data.count, queue.length - 10);
    const latest = await httpJson(im.httpPort, `/load_latest_message?appid=${e.appid}&uid=3&limit=3`);
    const want = queue.filter((m) => [4, 8, 7, 64].includes(m.cmd)).slice(-3).map((m) => m.key);
    assert.equal((latest.body.data as { id: number }[]).map((m) => m.id), want);
  });

  s('with the server stopped, a second import of the same log is refused (one line); with --force it writes nothing twice', async () => {
    assert.is(await im.stop(), 0);
    const again = await runImport(['--ims', join(FIXTURE, 'ims'), '--settle-ms', '0'], target.env);
    assert.is(again.code, 2);
    assert.match(again.stderr, /already holds messages for queues this log would write/);
    assert.is(again.stderr.trim().split('\n').length, 1, 'one line');
    const forced = await runImport(['--ims', join(FIXTURE, 'ims'), '--settle-ms', '0', '--force'], target.env);
    assert.is(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /messages written: 0; 732 already there \(kept\)/);
  });

  s('small pages over imported keys: SYNC_NOTIFY continues after the last key sent; the hard limit offers the newest messages', async () => {
    // The first server was stopped by the test before.
    const small = await startIm({ ...target.env, IM_SHARDS: '1', IM_GROUP_DB: groupDb(e), IM_SYNC_LIMIT: '10', IM_SYNC_HARD_LIMIT: '20' });
    try {
      // User 1's queue: what was imported, then its own copy of the message sent after the switch.
      const imported = e.queues.peer[`${e.appid}:1`]!;
      const queue = [...imported.map((m) => ({ key: m.key, content: m.content })), { key: imported.at(-1)!.key + 1, content: 'after the switch' }];
      assert.ok(queue.length > 30);
      const texts = (r: { messages: SyncedMessage[] }) => r.messages.map((m) => (m.body as { content: Buffer }).content.toString());
      const c = await login(small, e.appid, 1, { deviceId: 'pages', platform: 2 });
      try {
        const notify = c.next('sync_notify');
        const first = await c.sync(0);
        // More than 20 waiting, at most 20 offered: the newest 20, in pages of 10.
        assert.equal(texts(first), queue.slice(-20, -10).map((m) => m.content));
        assert.is(first.key, queue.at(-11)!.key);
        assert.is((await notify)[0].sync_key, first.key + 1);
        const second = await c.sync(first.key);
        assert.equal(texts(second), queue.slice(-10).map((m) => m.content));
        assert.is(second.key, queue.at(-1)!.key);
      } finally {
        c.destroy();
      }
    } finally {
      assert.is(await small.stop(), 0);
    }
  });

  s.run();
}
