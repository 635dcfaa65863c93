import type { MessagePort } from 'node:worker_threads';
import {
  Cmd, HEADER_SIZE, MAX_BODY, PROTOCOL_VERSION, ProtocolError, Route, codecs, encodeFrame, framed, outFrame, readI64, type Frame,
} from '../protocol/index.ts';
import { Kind, Transition, type SubscriberTable } from '../subscribers/index.ts';
import type { HostPort } from '../config/env.ts';
import type { Logger } from '../log/logger.ts';
import { nowNs, routeMessage, type ChannelVisitor } from '../threads/channel-wire.ts';
import { RouterLink, type RouterLinkLimits } from './router-link.ts';
import { threadMemory } from '../threads/memory.ts';
import { RateLimitedLog } from '../log/rate-limited.ts';
import { ShardSide } from './shard-side.ts';
import type { PushStats } from '../push/push.ts';
import { desiredState, Told } from './told.ts';

const PUSH = codecs.PUSH.forVersion(0);
const backlog = new RateLimitedLog(10_000);

export interface ChannelOptions {
  table: SubscriberTable;
  routers: HostPort[];
  groupRouters: HostPort[];
  shards: MessagePort[];
  limits: RouterLinkLimits;
  log: Logger;
}

export interface ChannelStats {
  /** Each router link, or the one NATS connection (router "nats", with the server it is connected to). */
  links: { router: string; server?: string; liveness?: string; state: string; framesOut: number; framesIn: number; dropped: number; overLimit: number; queued: number; queuedBytes: number; connects: number }[];
  published: number;
  dispatched: number;
  invalid: number;
  latencyUs: { count: number; p50: number; p99: number; max: number };
  /** Linked through NATS: offline pushes this server decided (routers decide them on their side). */
  push?: PushStats & { checks: number };
  /** This thread's V8 heap in use and its memory outside the heap (Buffers), bytes. */
  heapUsed: number;
  external: number;
}

/**
 * The seed's Channel, as one thread: the only link from this access server to its routers.
 *
 * Subscriptions: shards report transitions of the shared table; for each, the Channel reads
 * the key's current count and tells each responsible router the resulting state if it
 * differs from what that router was last told. Reading the table (rather than trusting the
 * order in which reports from different shards arrive) is what makes every router's view
 * converge to the table once traffic stops. On (re)connect the router is re-told everything
 * by a scan of the table.
 */
export class Channel implements ChannelVisitor {
  readonly #table: SubscriberTable;
  readonly #routers: RouterLink[];
  readonly #groupRouters: RouterLink[];
  readonly #links: RouterLink[];
  readonly #told = new Map<RouterLink, Map<string, number>>();
  readonly #side: ShardSide;
  readonly #log: Logger;
  #published = 0;

  constructor(o: ChannelOptions) {
    this.#table = o.table;
    this.#log = o.log;
    const byAddr = new Map<string, RouterLink>();
    const handlers = {
      up: (l: RouterLink) => this.#resubscribe(l),
      down: (l: RouterLink, why: string) => this.#log.warn({ router: l.label, why }, 'router link down; reconnecting'),
      frame: (_l: RouterLink, f: Frame) => this.#side.deliver(f),
      invalid: (l: RouterLink, err: ProtocolError) => {
        this.#side.invalid++;
        this.#log.error({ router: l.label, code: err.code, err: err.message }, 'invalid frame from router; reconnecting');
      },
      backlog: (l: RouterLink) => backlog.warn(this.#log, 'router link backlog over IM_CHANNEL_QUEUE_LIMIT_BYTES: publishes dropped', {
        router: l.label, queuedBytes: l.queuedBytes, dropped: l.overLimit,
      }),
    };
    const link = (a: HostPort) => {
      const key = `${a.host}:${a.port}`;
      let l = byAddr.get(key);
      if (l === undefined) {
        l = new RouterLink(a, handlers, o.limits);
        byAddr.set(key, l);
        this.#told.set(l, new Map());
      }
      return l;
    };
    this.#routers = o.routers.map(link);
    this.#groupRouters = (o.groupRouters.length > 0 ? o.groupRouters : o.routers).map(link);
    this.#links = [...byAddr.values()];
    this.#side = new ShardSide(o.table, o.shards, this);
  }

  /** A restarted shard's new port replaces the old one. */
  setShard(index: number, port: MessagePort): void {
    this.#side.setShard(index, port);
  }

  start(): void {
    for (const l of this.#links) l.start();
  }

  async stop(drained: readonly number[]): Promise<void> {
    await this.#side.lastItems(drained);
    await Promise.all(this.#links.map((l) => l.stop()));
  }

  drained(shard: number): void {
    this.#side.drained(shard);
  }

  stats(): ChannelStats {
    return {
      links: this.#links.map((l) => ({ router: l.label, liveness: l.liveness, state: l.state, framesOut: l.framesOut, framesIn: l.framesIn, dropped: l.dropped, overLimit: l.overLimit, queued: l.queued, queuedBytes: l.queuedBytes, connects: l.connects })),
      published: this.#published,
      dispatched: this.#side.dispatched,
      invalid: this.#side.invalid,
      latencyUs: this.#side.latencySummary(),
      ...threadMemory(),
    };
  }

  // ChannelVisitor: what the shards send.

  transition(t: number, appid: number, id: number): void {
    const kind = t === Transition.SUBSCRIBE_ROOM || t === Transition.UNSUBSCRIBE_ROOM ? Kind.ROOM : Kind.USER;
    const state = desiredState(kind, this.#table.count(kind, appid, id));
    for (const l of kind === Kind.USER ? this.#userLinks(id) : [this.#roomLink(id)]) this.#tell(l, kind, appid, id, state);
  }

  publish(routerCmd: number, receiver: number, frame: Buffer): void {
    const link = routerCmd === Cmd.PUBLISH_GROUP ? this.#groupLink(receiver) : this.#pick(this.#routers, receiver);
    link.sendPublish(frame);
    if (routerCmd !== Cmd.PUSH) this.#published++;
  }

  publishEach(cmd: number, flag: number, appid: number, receivers: number[], msgids: number[], body: Buffer): void {
    const inner = framed(outFrame(cmd, flag, body), PROTOCOL_VERSION);
    const size = HEADER_SIZE + Route.FRAME + inner.length;
    const at = nowNs();
    for (let i = 0; i < receivers.length; i++) {
      const link = this.#pick(this.#routers, receivers[i]!);
      // Built only if the link takes it: a large group's message past the limit costs no memory.
      if (!link.admit(size)) continue;
      link.sendPublish(routeMessage(Cmd.PUBLISH, appid, receivers[i]!, msgids[i]!, inner, at));
      this.#published++;
    }
  }

  push(cmd: number, flag: number, appid: number, receivers: number[], body: Buffer): void {
    const inner = framed(outFrame(cmd, flag, body), PROTOCOL_VERSION);
    // Each receiver's router knows whether it is online anywhere; a group push goes whole to
    // the group's router, which every access server subscribes its users on.
    const groups = new Map<RouterLink, number[]>();
    if (cmd === Cmd.GROUP_IM) {
      groups.set(this.#groupLink(readI64(body, 8)), receivers);
    } else {
      for (const r of receivers) {
        const l = this.#pick(this.#routers, r);
        const list = groups.get(l) ?? [];
        list.push(r);
        groups.set(l, list);
      }
    }
    // As many receivers a frame as keep it within the protocol's 32 KiB (IM_MAX_BODY leaves
    // room for a few at least).
    const per = Math.max(1, Math.min(0xffff, Math.floor((MAX_BODY - PUSH.minSize - inner.length) / 8)));
    for (const [l, list] of groups) {
      for (let i = 0; i < list.length; i += per) {
        const some = list.slice(i, i + per);
        if (l.admit(HEADER_SIZE + PUSH.minSize + 8 * some.length + inner.length)) l.sendPublish(encodeFrame(codecs.PUSH, { appid, receivers: some, message: inner }, 0, 0));
      }
    }
  }

  /** Tells one router the state of one key, if that changes what it was last told. */
  #tell(l: RouterLink, kind: Kind, appid: number, id: number, state: number): void {
    const told = this.#told.get(l)!;
    const key = `${kind}:${appid}:${id}`;
    if ((told.get(key) ?? Told.NONE) === state) return;
    let frame: Buffer;
    if (kind === Kind.ROOM) {
      frame = encodeFrame(state === Told.NONE ? codecs.UNSUBSCRIBE_ROOM : codecs.SUBSCRIBE_ROOM, { appid, room_id: id }, 0, 0);
    } else if (state === Told.NONE) {
      frame = encodeFrame(codecs.UNSUBSCRIBE, { appid, uid: id }, 0, 0);
    } else {
      frame = encodeFrame(codecs.SUBSCRIBE, { appid, uid: id, online: state === Told.ONLINE ? 1 : 0 }, 0, 0);
    }
    // While the router is away nothing is sent or remembered: the re-subscribe rebuilds it.
    if (!l.sendSubscription(frame)) return;
    if (state === Told.NONE) told.delete(key);
    else told.set(key, state);
  }

  #resubscribe(l: RouterLink): void {
    const told = this.#told.get(l)!;
    told.clear();
    let users = 0;
    let rooms = 0;
    this.#table.scan((kind, appid, id, count) => {
      const responsible = kind === Kind.USER ? this.#userLinks(id).includes(l) : this.#roomLink(id) === l;
      if (!responsible) return;
      this.#tell(l, kind, appid, id, desiredState(kind, count));
      kind === Kind.USER ? users++ : rooms++;
    });
    this.#log.info({ router: l.label, users, rooms }, 'router link up; re-subscribed');
  }

  #pick(list: RouterLink[], id: number): RouterLink {
    return list[Math.abs(id) % list.length]!;
  }

  #roomLink(room: number): RouterLink {
    return this.#pick(this.#routers, room);
  }

  #groupLink(gid: number): RouterLink {
    return this.#pick(this.#groupRouters, gid);
  }

  /** A user is subscribed on its own router and on every group router. */
  #userLinks(uid: number): RouterLink[] {
    const own = this.#pick(this.#routers, uid);
    return this.#groupRouters.includes(own) ? this.#groupRouters : [own, ...this.#groupRouters];
  }
}
