import { Counter, Gauge, Registry } from 'prom-client';
import { cmdName } from '../protocol/index.ts';

/** Counts kept as plain numbers on the hot path, read by prom-client only when scraped. */
export interface RouterCounts {
  framesIn: Float64Array;
  framesOut: Float64Array;
}

export interface RouterGauges {
  links(): number;
  userSubscriptions(): number;
  roomSubscriptions(): number;
  push(): { queued: number; pushed: number; dropped: number; buffered: number };
}

/** A counter whose value lives elsewhere: on scrape it advances by what changed since. */
function mirroredCounter(registry: Registry, name: string, help: string, labelNames: string[], read: () => [Record<string, string>, number][]): void {
  const last = new Map<string, number>();
  new Counter({
    name, help, labelNames, registers: [registry],
    collect() {
      for (const [labels, value] of read()) {
        const key = JSON.stringify(labels);
        const delta = value - (last.get(key) ?? 0);
        if (delta > 0) this.inc(labels, delta);
        last.set(key, value);
      }
    },
  });
}

export function routerMetrics(counts: RouterCounts, gauges: RouterGauges) {
  const registry = new Registry();
  const perCmd = (a: Float64Array) => (): [Record<string, string>, number][] =>
    [...a.keys()].filter((c) => a[c]! > 0).map((c) => [{ cmd: cmdName(c) }, a[c]!]);
  mirroredCounter(registry, 'imr_frames_in_total', 'Frames received from access-server links, by cmd', ['cmd'], perCmd(counts.framesIn));
  mirroredCounter(registry, 'imr_frames_out_total', 'Frames forwarded to access-server links, by cmd', ['cmd'], perCmd(counts.framesOut));
  mirroredCounter(registry, 'imr_push_items_total', 'Offline push items, by outcome', ['outcome'], () => {
    const p = gauges.push();
    return [[{ outcome: 'queued' }, p.queued], [{ outcome: 'written' }, p.pushed], [{ outcome: 'dropped' }, p.dropped]];
  });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  gauge('imr_links', 'Access-server links connected', gauges.links);
  gauge('imr_user_subscriptions', '(link, appid, uid) subscriptions', gauges.userSubscriptions);
  gauge('imr_room_subscriptions', '(link, appid, room) subscriptions', gauges.roomSubscriptions);
  gauge('imr_push_buffered', 'Offline push items waiting for Redis', () => gauges.push().buffered);
  return {
    registry,
    linksClosed: new Counter({ name: 'imr_links_closed_total', help: 'Links closed, by reason', labelNames: ['reason'], registers: [registry] }),
    invalidFrames: new Counter({ name: 'imr_invalid_frames_total', help: 'Invalid frames received, by error code', labelNames: ['code'], registers: [registry] }),
    refusedLinks: new Counter({ name: 'imr_links_refused_total', help: 'Connections refused: the address is not in IMR_ALLOW', registers: [registry] }),
    backlogDrops: new Counter({ name: 'imr_backlog_dropped_total', help: 'Frames for a link dropped: more than IMR_LINK_WRITE_LIMIT waited for it', registers: [registry] }),
    refusedSubscriptions: new Counter({ name: 'imr_subscriptions_refused_total', help: 'SUBSCRIBE / SUBSCRIBE_ROOM refused: the link holds IMR_LINK_MAX_SUBSCRIPTIONS', registers: [registry] }),
  };
}

export type RouterMetrics = ReturnType<typeof routerMetrics>;
