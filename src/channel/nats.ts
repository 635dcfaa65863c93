import type { MessagePort } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import {
  connect, credsAuthenticator, errors, nkeyAuthenticator, type Authenticator, type Msg, type NatsConnection, type NodeConnectionOptions, type Subscription,
} from '@nats-io/transport-node';
import {
  Cmd, HEADER_SIZE, PROTOCOL_VERSION, ProtocolError, Route, codecs, framed, outFrame, parseFrame, readI64,
} from '../protocol/index.ts';
import { Kind, Transition, type SubscriberTable } from '../subscribers/index.ts';
import type { NatsConfig } from '../config/nats.ts';
import type { Logger } from '../log/logger.ts';
import { nowNs, routeMessage, type ChannelVisitor } from '../threads/channel-wire.ts';
import { threadMemory } from '../threads/memory.ts';
import { RateLimitedLog } from '../log/rate-limited.ts';
import { pushItems, type PushSink } from '../push/push.ts';
import { ShardSide } from './shard-side.ts';
import { desiredState, Told } from './told.ts';
import { NatsSubjects } from './nats-subjects.ts';
import type { ChannelStats } from './channel.ts';

const PUSH = codecs.PUSH.forVersion(0);
/** A hung NATS node is found by its missed PINGs: one every 2 s, the third unanswered ends the connection. */
const PING_INTERVAL_MS = 2000;
const MAX_PINGS_OUT = 2;
/** Between two dials of the same node; another node of the pool is dialled at once. */
const RECONNECT_WAIT_MS = 250;
/** How long a presence question (is this user online on some server?) may take before the push goes out anyway. */
const PRESENCE_TIMEOUT_MS = 1000;
const EMPTY = new Uint8Array(0);
const held = new RateLimitedLog(10_000);

export interface NatsChannelOptions {
  table: SubscriberTable;
  nats: NatsConfig;
  shards: MessagePort[];
  /** Publishes held while no NATS node is reachable: at most this many, and bytes (oldest dropped). */
  holdFrames: number;
  holdBytes: number;
  push: PushSink;
  /** The connection's name in NATS monitoring. */
  name: string;
  log: Logger;
}

/** Why the first connection failed in a way that retrying cannot mend (credentials, TLS), or null. */
export type StartProblem = string | null;

/**
 * The Channel over NATS: the link from this access server to the others through a NATS
 * cluster, instead of routers. Shards see no difference (ChannelVisitor); what is published
 * is the router frame a router would have forwarded, so the receiving side is the same.
 *
 * Interest follows the subscriber table as router subscriptions do: a user counted here
 * (any connection) is subscribed on its user subject, and while one of its connections is
 * online also on its presence subject; a room on its room subject; super-group messages
 * go to every server. Publishes are never echoed back to this connection (noEcho): this
 * server delivered them locally already. Offline push is decided here, as exactly as the
 * router decides it: a presence request that no server answers ("no responders", decided
 * by NATS from the cluster's interest) means online nowhere.
 *
 * The client reconnects to another node by itself and sends its subscriptions again; what
 * is published while no node is reachable is held here, bounded, oldest dropped.
 */
export class NatsChannel implements ChannelVisitor {
  readonly #o: NatsChannelOptions;
  readonly #side: ShardSide;
  readonly #subjects: NatsSubjects;
  #nc: NatsConnection | undefined;
  state: 'connecting' | 'up' | 'down' | 'stopped' = 'connecting';
  /** Subscriptions by key: a user's deliveries, its presence, a room. */
  readonly #subs = new Map<string, Subscription>();
  readonly #online = new Map<string, Subscription>();
  #held: [string, Uint8Array][] = [];
  #heldBytes = 0;
  #published = 0;
  #received = 0;
  #dropped = 0;
  #connects = 0;
  #pushChecks = 0;
  readonly #onMsg = (err: Error | null, m: Msg) => {
    if (err !== null) return;
    this.#received++;
    const d = m.data;
    const f = parseFrame(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    if (f instanceof ProtocolError) return void this.#side.invalid++;
    this.#side.deliver(f);
  };
  readonly #onPresence = (err: Error | null, m: Msg) => {
    if (err === null) m.respond(EMPTY);
  };

  constructor(o: NatsChannelOptions) {
    this.#o = o;
    this.#subjects = new NatsSubjects(o.nats.prefix);
    this.#side = new ShardSide(o.table, o.shards, this);
  }

  /**
   * Connects (the first node that answers). Resolves a problem that retrying cannot mend
   * (wrong credentials, a TLS failure) for the caller to stop on; with no node reachable it
   * resolves null and goes on trying in the background.
   */
  async start(): Promise<StartProblem> {
    try {
      this.#up(await connect(this.#options(false)));
      return null;
    } catch (err) {
      const problem = fatal(err);
      if (problem !== null) {
        this.state = 'down';
        return problem;
      }
      this.state = 'down';
      this.#o.log.warn({ servers: this.#o.nats.servers, err: (err as Error).message }, 'no NATS server answers (IM_NATS_URL): trying on');
      void connect(this.#options(true)).then((nc) => this.#up(nc), (e: unknown) => this.#o.log.error({ err: (e as Error).message }, 'NATS connection failed'));
      return null;
    }
  }

  #options(wait: boolean): NodeConnectionOptions {
    const n = this.#o.nats;
    const tls = n.ca !== undefined ? { caFile: n.ca } : n.servers.some((s) => s.startsWith('tls:')) ? {} : undefined;
    return {
      servers: n.servers, name: this.#o.name, noEcho: true,
      user: n.user, pass: n.pass, token: n.token, authenticator: n.creds === undefined ? undefined : authenticatorOf(n.creds),
      tls, reconnect: true, maxReconnectAttempts: -1, waitOnFirstConnect: wait,
      reconnectTimeWait: RECONNECT_WAIT_MS, reconnectJitter: 100, reconnectJitterTLS: 200,
      pingInterval: PING_INTERVAL_MS, maxPingOut: MAX_PINGS_OUT, timeout: 5000,
    };
  }

  #up(nc: NatsConnection): void {
    if (this.state === 'stopped') return void nc.close();
    this.#nc = nc;
    this.state = 'up';
    this.#connects++;
    // What the table holds now; from here on its transitions keep NATS's interest in step.
    let users = 0;
    let rooms = 0;
    this.#o.table.scan((kind, appid, id) => {
      this.#follow(kind, appid, id);
      kind === Kind.USER ? users++ : rooms++;
    });
    nc.subscribe(this.#subjects.groups(), { callback: this.#onMsg });
    this.#o.log.info({ server: nc.getServer(), users, rooms }, 'NATS connected; subscribed');
    this.#release();
    void this.#watch(nc);
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.state = 'down';
        this.#o.log.warn({ server: s.server }, 'NATS connection lost; reconnecting to a node of the pool');
      } else if (s.type === 'reconnect') {
        this.state = 'up';
        this.#connects++;
        this.#o.log.info({ server: s.server, subscriptions: this.#subs.size + this.#online.size }, 'NATS reconnected; subscriptions sent again');
        this.#release();
      } else if (s.type === 'staleConnection') {
        this.#o.log.warn({ server: nc.getServer() }, 'NATS server answers no PING: taken for down');
      } else if (s.type === 'error') {
        this.#o.log.warn({ err: s.error.message }, 'NATS error');
      }
    }
  }

  async stop(drained: readonly number[]): Promise<void> {
    await this.#side.lastItems(drained);
    const nc = this.#nc;
    this.state = 'stopped';
    if (nc === undefined || nc.isClosed()) return;
    // Drain: what was published goes out, and other servers stop sending here at once.
    await Promise.race([nc.drain(), new Promise((r) => setTimeout(r, 2000).unref())]).catch(() => {});
    await nc.close().catch(() => {});
    await this.#o.push.close();
  }

  setShard(index: number, port: MessagePort): void {
    this.#side.setShard(index, port);
  }

  drained(shard: number): void {
    this.#side.drained(shard);
  }

  stats(): ChannelStats {
    const nc = this.#nc;
    return {
      links: [{
        router: 'nats', server: nc?.getServer() ?? '', state: this.state, framesOut: this.#published, framesIn: this.#received,
        dropped: this.#dropped, overLimit: 0, queued: this.#held.length, queuedBytes: this.#heldBytes, connects: this.#connects,
      }],
      published: this.#published,
      dispatched: this.#side.dispatched,
      invalid: this.#side.invalid,
      latencyUs: this.#side.latencySummary(),
      push: { ...this.#o.push.stats(), checks: this.#pushChecks },
      ...threadMemory(),
    };
  }

  // ChannelVisitor: what the shards send.

  transition(t: number, appid: number, id: number): void {
    if (this.#nc === undefined) return; // the first connect subscribes from the table
    this.#follow(t === Transition.SUBSCRIBE_ROOM || t === Transition.UNSUBSCRIBE_ROOM ? Kind.ROOM : Kind.USER, appid, id);
  }

  publish(routerCmd: number, receiver: number, frame: Buffer): void {
    if (routerCmd === Cmd.PUSH) return this.#pushFrame(frame);
    const appid = readI64(frame, HEADER_SIZE + Route.APPID);
    const subject = routerCmd === Cmd.PUBLISH ? this.#subjects.user(appid, receiver)
      : routerCmd === Cmd.PUBLISH_ROOM ? this.#subjects.room(appid, receiver)
      : this.#subjects.group(appid);
    this.#send(subject, frame);
  }

  publishEach(cmd: number, flag: number, appid: number, receivers: number[], msgids: number[], body: Buffer): void {
    const inner = framed(outFrame(cmd, flag, body), PROTOCOL_VERSION);
    const at = nowNs();
    for (let i = 0; i < receivers.length; i++) {
      this.#send(this.#subjects.user(appid, receivers[i]!), routeMessage(Cmd.PUBLISH, appid, receivers[i]!, msgids[i]!, inner, at));
    }
  }

  push(cmd: number, flag: number, appid: number, receivers: number[], body: Buffer): void {
    void this.#pushOffline(appid, receivers, framed(outFrame(cmd, flag, body), PROTOCOL_VERSION));
  }

  /** A PUSH router frame (one receiver, made by the shard): decoded and pushed as `push` would. */
  #pushFrame(frame: Buffer): void {
    const m = PUSH.decode(frame, HEADER_SIZE, frame.length);
    if (m instanceof ProtocolError) return void this.#side.invalid++;
    void this.#pushOffline(m.appid, m.receivers, m.message);
  }

  /**
   * The receivers (none online on this server) that no server has online get their push
   * items. With no NATS node reachable, nobody can be asked: every one is pushed.
   */
  async #pushOffline(appid: number, receivers: readonly number[], message: Buffer): Promise<void> {
    const nc = this.#nc;
    let offline: number[] = [...receivers];
    if (nc !== undefined && this.state === 'up') {
      const online = await Promise.all(receivers.map((uid) => nc.request(this.#subjects.presence(appid, uid), EMPTY, { timeout: PRESENCE_TIMEOUT_MS })
        // No responders: no server has the user online. A timeout: one that has it does not
        // answer (it hangs), and cannot deliver either: push.
        .then(() => true, () => false)));
      offline = receivers.filter((_, i) => !online[i]);
    }
    this.#pushChecks += receivers.length;
    const items = pushItems(appid, offline, message);
    if (items.length > 0) this.#o.push.push(items);
  }

  /** Subscribes or unsubscribes the key's subjects to match its count in the table. */
  #follow(kind: Kind, appid: number, id: number): void {
    const nc = this.#nc!;
    const state = desiredState(kind, this.#o.table.count(kind, appid, id));
    const key = `${kind}:${appid}:${id}`;
    const sub = this.#subs.get(key);
    if (state === Told.NONE) {
      if (sub !== undefined) {
        sub.unsubscribe();
        this.#subs.delete(key);
      }
    } else if (sub === undefined) {
      const subject = kind === Kind.USER ? this.#subjects.user(appid, id) : this.#subjects.room(appid, id);
      this.#subs.set(key, nc.subscribe(subject, { callback: this.#onMsg }));
    }
    if (kind !== Kind.USER) return;
    const presence = this.#online.get(key);
    if (state === Told.ONLINE && presence === undefined) {
      this.#online.set(key, nc.subscribe(this.#subjects.presence(appid, id), { callback: this.#onPresence }));
    } else if (state !== Told.ONLINE && presence !== undefined) {
      presence.unsubscribe();
      this.#online.delete(key);
    }
  }

  #send(subject: string, data: Uint8Array): void {
    if (this.state === 'up') {
      this.#nc!.publish(subject, data);
      this.#published++;
      return;
    }
    // No node to take it: held, within the limits, the oldest dropped first.
    this.#held.push([subject, data]);
    this.#heldBytes += data.length;
    while (this.#held.length > 0 && (this.#held.length > this.#o.holdFrames || this.#heldBytes > this.#o.holdBytes)) {
      this.#heldBytes -= this.#held.shift()![1].length;
      this.#dropped++;
      held.warn(this.#o.log, 'NATS unreachable and the publishes held for it are over IM_CHANNEL_QUEUE_LIMIT(_BYTES): the oldest dropped', { dropped: this.#dropped });
    }
  }

  /** Connected again: what was held goes out, in order. */
  #release(): void {
    const nc = this.#nc!;
    const out = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    for (const [subject, data] of out) nc.publish(subject, data);
    this.#published += out.length;
  }
}

/** A `.creds` file (a user JWT and its seed), or a file holding only an nkey seed. */
function authenticatorOf(file: string): Authenticator {
  const text = readFileSync(file);
  if (text.includes('BEGIN NATS USER JWT')) return credsAuthenticator(text);
  return nkeyAuthenticator(new TextEncoder().encode(text.toString('utf8').trim()));
}

/** The first connection's error, when it is one that no retry mends; null otherwise. */
function fatal(err: unknown): StartProblem {
  const e = err as Error;
  if (e instanceof errors.AuthorizationError || e instanceof errors.UserAuthenticationExpiredError) {
    return 'the NATS server refused this server\'s credentials (user and password, token, or IM_NATS_CREDS)';
  }
  const text = `${e.message} ${(e.cause as Error | undefined)?.message ?? ''}`;
  if (/certificate|self.signed|SSL|TLS|handshake/i.test(text)) return `TLS with the NATS server failed: ${text.trim()}`;
  return null;
}
