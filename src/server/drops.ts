import type { ChannelStats } from '../channel/channel.ts';
import type { ShardReport } from '../shard/stats.ts';

/** Drops by reason: one definition for /summary and /metrics. */
export function droppedByReason(reports: ShardReport[], channel: ChannelStats | undefined): Record<string, number> {
  const sum = (f: (r: ShardReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  return {
    queue_limit: sum((r) => r.stats.dropped),
    spoofed_sender: sum((r) => r.stats.spoofed),
    refused: sum((r) => r.stats.refused),
    slow_consumer: sum((r) => r.stats.slowDisconnects),
    router_down: channel?.links.reduce((n, l) => n + l.dropped, 0) ?? 0,
    router_backlog: channel?.links.reduce((n, l) => n + l.overLimit, 0) ?? 0,
  };
}
