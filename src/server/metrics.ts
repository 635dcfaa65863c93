import { Counter, Gauge, Registry } from 'prom-client';
import { cmdName } from '../protocol/index.ts';
import type { ChannelStats } from '../channel/channel.ts';
import type { PoolQueries } from './pool-queries.ts';
import { droppedByReason } from './drops.ts';
import { threadMemory } from '../threads/memory.ts';
import { Kind, type SubscriberTable } from '../subscribers/index.ts';
import type { ShardReport, ShardStats } from '../shard/stats.ts';
import type { StoreStats } from '../store/protocol.ts';

interface Snapshot {
  shards: ShardReport[];
  channel: ChannelStats | undefined;
  store: StoreStats | undefined;
}

/**
 * /metrics for the access server: every figure is gathered from the shards and the Channel
 * thread at scrape time (one round of control calls per scrape, shared by all metrics).
 */
export function serverMetrics(pool: PoolQueries, table: SubscriberTable): Registry {
  const registry = new Registry();
  let pending: Promise<Snapshot> | undefined;
  const snapshot = () => {
    pending ??= (async () => {
      const [shards, channel, store] = await Promise.all([pool.reports(), pool.channelStats(), pool.storeStats()]);
      setTimeout(() => { pending = undefined; }, 50).unref();
      return { shards, channel, store };
    })();
    return pending;
  };

  /** Counters whose totals live in the threads: each scrape advances them to the reported total. */
  const mirrored = (name: string, help: string, labelNames: string[], read: (s: Snapshot) => [Record<string, string>, number][]) => {
    const last = new Map<string, number>();
    new Counter({
      name, help, labelNames, registers: [registry],
      async collect() {
        for (const [labels, value] of read(await snapshot())) {
          const key = JSON.stringify(labels);
          const prev = last.get(key) ?? 0;
          // A restarted shard starts from zero again: count from there.
          const delta = value >= prev ? value - prev : value;
          if (delta > 0) this.inc(labels, delta);
          last.set(key, value);
        }
      },
    });
  };
  const gauge = (name: string, help: string, labelNames: string[], read: (s: Snapshot) => [Record<string, string>, number][]) => {
    new Gauge({
      name, help, labelNames, registers: [registry],
      async collect() {
        this.reset();
        for (const [labels, value] of read(await snapshot())) this.set(labels, value);
      },
    });
  };
  const perShard = (f: (r: ShardReport) => number) => (s: Snapshot): [Record<string, string>, number][] =>
    s.shards.map((r) => [{ shard: String(r.shard) }, f(r)]);
  const stat = (k: keyof ShardStats) => perShard((r) => r.stats[k]);

  gauge('im_connections', 'Live client connections, by shard and transport', ['shard', 'transport'], (s) =>
    s.shards.flatMap((r) => Object.entries(r.transports).map(([t, n]) => [{ shard: String(r.shard), transport: t }, n] as [Record<string, string>, number])));
  gauge('im_clients', 'Authenticated connections, by shard', ['shard'], perShard((r) => r.clients));
  gauge('im_subscribers', 'Distinct users and rooms held by this server (subscriber table)', ['kind'], () => {
    let users = 0;
    let rooms = 0;
    table.scan((kind) => (kind === Kind.USER ? users++ : rooms++));
    return [[{ kind: 'user' }, users], [{ kind: 'room' }, rooms]];
  });
  mirrored('im_logins_total', 'Successful logins', ['shard'], stat('logins'));
  mirrored('im_auth_failures_total', 'Refused logins, by reason (invalid token, token store unavailable)', ['shard', 'reason'], (s) =>
    s.shards.flatMap((r) => [[{ shard: String(r.shard), reason: 'invalid' }, r.stats.authFailures], [{ shard: String(r.shard), reason: 'unavailable' }, r.stats.authUnavailable]]));
  mirrored('im_auth_refused_total', 'Logins refused because the subscriber table is full', ['shard'], stat('authRefusedFull'));
  mirrored('im_timeouts_total', 'Connections closed for not authenticating or for idling', ['shard', 'reason'], (s) =>
    s.shards.flatMap((r) => [[{ shard: String(r.shard), reason: 'auth' }, r.stats.authTimeouts], [{ shard: String(r.shard), reason: 'idle' }, r.stats.idleTimeouts]]));
  mirrored('im_frames_in_total', 'Frames received from clients, by cmd', ['cmd'], (s) => sumByCmd(s.shards, (r) => r.framesInByCmd));
  mirrored('im_frames_out_total', 'Frames written to clients, by cmd', ['cmd'], (s) => sumByCmd(s.shards, (r) => r.framesOutByCmd));
  mirrored('im_dropped_total', 'Frames dropped, by reason (the same counts as /summary\'s dropped_count)', ['reason'], (s) =>
    Object.entries(droppedByReason(s.shards, s.channel)).map(([reason, n]) => [{ reason }, n]));
  mirrored('im_slow_consumers_total', 'Clients disconnected for not reading (over IM_QUEUE_LIMIT_BYTES)', ['shard'], stat('slowDisconnects'));
  mirrored('im_read_budget_pauses_total', 'Times a client\'s reads waited for the next turn: it sent more than IM_READ_BUDGET_BYTES in one', ['shard'], stat('readBudgetPauses'));
  mirrored('im_peer_pauses_total', 'Times a client\'s reads waited for another shard to catch up: what it sent there was over a mebibyte behind', ['shard'], stat('peerPauses'));
  mirrored('im_store_pauses_total', 'Times a client\'s reads paused because more of its messages waited for the store than one client may have', ['shard'], stat('storePauses'));
  mirrored('im_invalid_frames_total', 'Connections closed for breaking the protocol', ['shard'], stat('invalidFrames'));
  mirrored('im_write_slabs_total', 'Write slabs made anew because a client socket still held the previous one', ['shard'], perShard((r) => r.writeSlabs));
  mirrored('im_handoffs_total', 'Cross-shard hand-offs, by direction', ['shard', 'direction'], (s) =>
    s.shards.flatMap((r) => [[{ shard: String(r.shard), direction: 'out' }, r.handoffs_out], [{ shard: String(r.shard), direction: 'in' }, r.handoffs_in]]));
  gauge('im_shard_heap_bytes', 'V8 heap in use, by shard thread', ['shard'], perShard((r) => r.heapUsed));
  gauge('im_thread_memory_bytes', 'Memory of each thread: V8 heap in use, and outside the heap (Buffers)', ['thread', 'kind'], (s) => {
    const main = threadMemory();
    const rows: [string, { heapUsed: number; external: number } | undefined][] = [
      ['main', main], ['channel', s.channel], ['store', s.store], ...s.shards.map((r) => [`shard${r.shard}`, r] as [string, ShardReport]),
    ];
    return rows.flatMap(([thread, m]) => (m === undefined ? [] : [[{ thread, kind: 'heap' }, m.heapUsed], [{ thread, kind: 'external' }, m.external]] as [Record<string, string>, number][]));
  });
  gauge('im_channel_queue_depth', 'Frames waiting for a router link', ['router'], (s) => s.channel?.links.map((l) => [{ router: l.router }, l.queued]) ?? []);
  gauge('im_channel_queue_bytes', 'Bytes waiting for a router link, its socket\'s unsent bytes included', ['router'], (s) => s.channel?.links.map((l) => [{ router: l.router }, l.queuedBytes]) ?? []);
  gauge('im_router_link_up', 'Router link state (1 up, 0 otherwise)', ['router'], (s) => s.channel?.links.map((l) => [{ router: l.router }, l.state === 'up' ? 1 : 0]) ?? []);
  const nats = (f: (l: NonNullable<Snapshot['channel']>['links'][number]) => number) => (s: Snapshot): [Record<string, string>, number][] => {
    const l = s.channel?.links.find((x) => x.router === 'nats');
    return l === undefined ? [] : [[{ server: l.server ?? '' }, f(l)]];
  };
  gauge('im_nats_up', 'NATS connection state (1 connected, 0 otherwise), by the node it is on', ['server'], nats((l) => (l.state === 'up' ? 1 : 0)));
  mirrored('im_nats_reconnects_total', 'Times the NATS connection came back (to the same node or another)', ['server'], nats((l) => Math.max(0, l.connects - 1)));
  gauge('im_nats_pending_bytes', 'Publishes held while no NATS node is reachable', ['server'], nats((l) => l.queuedBytes));
  mirrored('im_nats_dropped_total', 'Publishes dropped while no NATS node was reachable (over IM_CHANNEL_QUEUE_LIMIT or _BYTES)', ['server'], nats((l) => l.dropped));
  const push = (f: (p: NonNullable<NonNullable<Snapshot['channel']>['push']>) => number) => (s: Snapshot): [Record<string, string>, number][] =>
    (s.channel?.push === undefined ? [] : [[{}, f(s.channel.push)]]);
  mirrored('im_push_checks_total', 'Receivers whose offline push was decided through NATS (pushed, or found online on some server)', [], push((p) => p.checks));
  mirrored('im_push_queued_total', 'Offline push items this server made (linked through NATS)', [], push((p) => p.queued));
  mirrored('im_push_pushed_total', 'Offline push items Redis took', [], push((p) => p.pushed));
  mirrored('im_push_dropped_total', 'Offline push items dropped (Redis away past the buffer, or refused)', [], push((p) => p.dropped));
  gauge('im_router_latency_microseconds', 'im → imr → im delivery latency of messages from other servers', ['quantile'], (s) => {
    const l = s.channel?.latencyUs;
    return l === undefined || l.count === 0 ? [] : [[{ quantile: '0.5' }, l.p50], [{ quantile: '0.99' }, l.p99], [{ quantile: '1' }, l.max]];
  });
  const store = (f: (st: StoreStats) => number) => (s: Snapshot): [Record<string, string>, number][] =>
    s.store === undefined ? [] : [[{ engine: s.store.engine }, f(s.store)]];
  mirrored('im_store_saved_total', 'Messages saved in the message store (one per queue written)', ['engine'], store((st) => st.saved));
  mirrored('im_store_save_batches_total', 'Save transactions (one per batch a thread sent in one turn)', ['engine'], store((st) => st.saveBatches));
  mirrored('im_store_syncs_total', 'Sync pages read (SYNC, SYNC_GROUP, history)', ['engine'], store((st) => st.syncs));
  mirrored('im_store_errors_total', 'Store calls that failed', ['engine'], store((st) => st.errors));
  mirrored('im_store_failures_total', 'Messages not acknowledged and syncs not answered because the store failed or timed out', ['shard'], stat('storeFailures'));
  mirrored('im_disconnects_total', 'Client connections closed, by why (peer_closed, auth_timeout, idle, slow_consumer, bad_frame, oversized, internal_error, server_shutdown, shard_lost)', ['reason', 'shard'], (s) => [
    ...s.shards.flatMap((r) => Object.entries(r.disconnects).map(([reason, n]) => [{ reason, shard: String(r.shard) }, n] as [Record<string, string>, number])),
    ...[...pool.lostWithShard].map(([shard, n]) => [{ reason: 'shard_lost', shard: String(shard) }, n] as [Record<string, string>, number]),
  ]);
  mirrored('im_store_restarts_total', 'Times the store thread died and was replaced', ['engine'], store((st) => st.restarts ?? 0));
  gauge('im_store_up', 'Whether the last store call succeeded (1) or failed (0)', ['engine'], store((st) => (st.up ? 1 : 0)));
  gauge('im_store_save_latency_microseconds', 'Time of one save transaction', ['quantile'], (s) => {
    const l = s.store?.saveUs;
    return l === undefined || l.count === 0 ? [] : [[{ quantile: '0.5' }, l.p50], [{ quantile: '0.99' }, l.p99], [{ quantile: '1' }, l.max]];
  });
  return registry;
}

function sumByCmd(shards: ShardReport[], pick: (r: ShardReport) => [number, number][]): [Record<string, string>, number][] {
  const m = new Map<number, number>();
  for (const r of shards) for (const [cmd, n] of pick(r)) m.set(cmd, (m.get(cmd) ?? 0) + n);
  return [...m].map(([cmd, n]) => [{ cmd: cmdName(cmd) }, n]);
}
