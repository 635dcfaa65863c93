import type { MessagePort } from 'node:worker_threads';
import { connect, createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  Cmd, HEADER_SIZE, PROTOCOL_VERSION, ProtocolError, Route, codecs, framed, outFrame, parseFrame, readI64,
} from '../protocol/index.ts';
import { Kind, Transition, type SubscriberTable } from '../subscribers/index.ts';
import type { NatsConfig } from '../config/nats.ts';
import type { Logger } from '../log/logger.ts';
import { nowNs, routeMessage, type ChannelVisitor } from '../threads/channel-wire.ts';
import { threadMemory } from '../threads/memory.ts';
import { RateLimitedLog } from '../log/rate-limited.ts';
import type { PushSink } from '../push/push.ts';
import { ShardSide } from './shard-side.ts';
import { desiredState, Told } from './told.ts';
import { NatsSubjects } from './nats-subjects.ts';
import { HELD_OFFLINE, NatsOfflinePush, ONLINE_HERE, ONLINE_QUESTION, type Question } from './nats-push.ts';
import type { ChannelStats } from './channel.ts';
import { connectOptions, startProblem, type StartProblem } from './nats-connect.ts';

const PUSH = codecs.PUSH.forVersion(0);
/**
 * How long "no responders" may take to come back for a user online nowhere. A question it
 * has not answered by then was taken by a server holding the user online: no push.
 */
const PRESENCE_TIMEOUT_MS = 500;
const SWEEP_MS = 100;
/**
 * A turn's messages for one user travel as one NATS message of their router frames, up to
 * this size: under load a user's messages come in bursts (a sender's window, a group's
 * burst), and each NATS message costs the client its protocol line and the server a route.
 */
const COALESCE_BYTES = 64 * 1024;

/** A user's messages of this turn, published together at its end. */
interface Staged {
  appid: number;
  uid: number;
  frames: Uint8Array[];
  bytes: number;
  /** Asks whether the user is online somewhere (an offline push waits on the answer). */
  question: Question | undefined;
  /** Staged for the same uid in another app, or earlier in this turn past COALESCE_BYTES. */
  next: Staged | undefined;
}
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

/**
 * The Channel over NATS: the link from this access server to the others through a NATS
 * cluster, instead of routers. Shards see no difference (ChannelVisitor); what is published
 * is the router frame a router would have forwarded, so the receiving side is the same.
 *
 * Interest follows the subscriber table as router subscriptions do: a user counted here (any
 * connection) is subscribed on its user subject (nats-subjects.ts); a room on its room
 * subject; super-group messages go to every server. Publishes are never echoed back to this
 * connection (noEcho): this server delivered them locally already. Offline push is decided
 * here, as exactly as the router decides it, from NATS's own "no responders" answers
 * (nats-push.ts).
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
  /** Subscriptions by key: a user's or a room's messages. */
  readonly #subs = new Map<string, Subscription>();
  /**
   * Messages for users, published at the end of the turn, so that an offline push of the
   * same message that comes right after (a separate item from the shard) rides on it as its
   * reply subject instead of a publish of its own.
   */
  #staged: Staged[] = [];
  readonly #stagedBy = new Map<number, Staged>();
  readonly #push: NatsOfflinePush;
  readonly #sweep: NodeJS.Timeout;
  #held: [string, Uint8Array][] = [];
  #heldBytes = 0;
  #published = 0;
  #received = 0;
  #dropped = 0;
  #connects = 0;
  readonly #onMsg = (err: Error | null, m: Msg) => {
    if (err !== null) return;
    // A message that asks after its receiver (an offline push waits on it): answered when
    // this server holds the user as the question asks (nats-push.ts).
    const d = m.data;
    if (m.reply !== undefined && m.reply !== '') this.#answer(m, d.length === ONLINE_QUESTION.length);
    if (d.length <= ONLINE_QUESTION.length) return; // a question alone
    this.#received++;
    // One router frame, or a user's frames of one turn back to back.
    const b = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
    for (let at = 0; at < b.length;) {
      const end = at + HEADER_SIZE + (b.length - at >= 4 ? b.readInt32BE(at) : 0);
      const f = parseFrame(b.subarray(at, end));
      if (f instanceof ProtocolError) return void this.#side.invalid++;
      this.#side.deliver(f);
      at = end;
    }
  };
  readonly #flush = () => this.#publishStaged();

  constructor(o: NatsChannelOptions) {
    this.#o = o;
    this.#subjects = new NatsSubjects(o.nats.prefix);
    this.#side = new ShardSide(o.table, o.shards, this);
    this.#push = new NatsOfflinePush(o.push, createInbox(), PRESENCE_TIMEOUT_MS,
      (q, reply) => this.#send(this.#subjects.user(q.appid, q.uid), ONLINE_QUESTION, reply));
    this.#sweep = setInterval(() => this.#push.sweep(), SWEEP_MS);
    this.#sweep.unref();
  }

  /**
   * Connects (the first node that answers). Resolves a problem that retrying cannot mend
   * (wrong credentials, a TLS failure) for the caller to stop on; with no node reachable it
   * resolves null and goes on trying in the background.
   */
  async start(): Promise<StartProblem> {
    try {
      this.#up(await connect(connectOptions(this.#o.nats, this.#o.name, false)));
      return null;
    } catch (err) {
      this.state = 'down';
      const problem = startProblem(err);
      if (problem !== null) return problem;
      this.#o.log.warn({ servers: this.#o.nats.servers, err: (err as Error).message }, 'no NATS server answers (IM_NATS_URL): trying on');
      void connect(connectOptions(this.#o.nats, this.#o.name, true)).then((nc) => this.#up(nc), (e: unknown) => this.#o.log.error({ err: (e as Error).message }, 'NATS connection failed'));
      return null;
    }
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
    nc.subscribe(this.#push.replies, { callback: this.#push.answer });
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
        this.#o.log.info({ server: s.server, subscriptions: this.#subs.size }, 'NATS reconnected; subscriptions sent again');
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
    clearInterval(this.#sweep);
    if (nc !== undefined && !nc.isClosed()) {
      // Drain: what was published goes out, and other servers stop sending here at once.
      await Promise.race([nc.drain(), new Promise((r) => setTimeout(r, 2000).unref())]).catch(() => {});
      await nc.close().catch(() => {});
    }
    await this.#push.close();
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
      push: this.#push.stats(),
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
    if (routerCmd === Cmd.PUBLISH) return this.#stage(appid, receiver, frame);
    this.#send(routerCmd === Cmd.PUBLISH_ROOM ? this.#subjects.room(appid, receiver) : this.#subjects.group(appid), frame);
  }

  publishEach(cmd: number, flag: number, appid: number, receivers: number[], msgids: number[], body: Buffer): void {
    const inner = framed(outFrame(cmd, flag, body), PROTOCOL_VERSION);
    const at = nowNs();
    for (let i = 0; i < receivers.length; i++) this.#stage(appid, receivers[i]!, routeMessage(Cmd.PUBLISH, appid, receivers[i]!, msgids[i]!, inner, at));
  }

  push(cmd: number, flag: number, appid: number, receivers: number[], body: Buffer): void {
    this.#pushOffline(appid, receivers, framed(outFrame(cmd, flag, body), PROTOCOL_VERSION));
  }

  /**
   * A PUSH router frame to one receiver, as the shard writes it for each peer message to a
   * user not online there (threads/channel-wire.ts, writePushTo): read in place, no decoder
   * objects, since nearly every one is settled without a push.
   */
  #pushFrame(frame: Buffer): void {
    const b = HEADER_SIZE;
    if (frame.length < b + 20 || frame.readUInt16BE(b + 8) !== 1) {
      const m = PUSH.decode(frame, b, frame.length);
      if (m instanceof ProtocolError) return void this.#side.invalid++;
      return this.#pushOffline(m.appid, m.receivers, m.message);
    }
    const len = frame.readInt16BE(b + 18);
    this.#pushOffline(readI64(frame, b), [readI64(frame, b + 10)], frame.subarray(b + 20, b + 20 + len));
  }

  #stage(appid: number, uid: number, frame: Uint8Array): void {
    if (this.#staged.length === 0) queueMicrotask(this.#flush);
    let m = this.#stagedFor(appid, uid);
    if (m === undefined || m.bytes + frame.length > COALESCE_BYTES) {
      m = { appid, uid, frames: [], bytes: 0, question: undefined, next: this.#stagedBy.get(uid) };
      this.#stagedBy.set(uid, m);
      this.#staged.push(m);
    }
    m.frames.push(frame);
    m.bytes += frame.length;
  }

  /** This turn's newest staged messages for the user, if any (keyed by uid, then appid: no key string a message). */
  #stagedFor(appid: number, uid: number): Staged | undefined {
    let m = this.#stagedBy.get(uid);
    while (m !== undefined && m.appid !== appid) m = m.next;
    return m;
  }

  #publishStaged(): void {
    const staged = this.#staged;
    this.#staged = [];
    this.#stagedBy.clear();
    for (const m of staged) {
      const data = m.frames.length === 1 ? m.frames[0]! : Buffer.concat(m.frames, m.bytes);
      this.#send(this.#subjects.user(m.appid, m.uid), data, m.question && this.#push.replyTo(m.question));
    }
  }

  /**
   * Asks after each receiver (none online on this server): on the message published to it
   * in this turn when there is one, else with a question of its own (an empty message on its
   * user subject). With no NATS node reachable, nobody can be asked: every one is pushed.
   */
  #pushOffline(appid: number, receivers: readonly number[], message: Buffer): void {
    if (this.state !== 'up') return this.#push.pushAll(appid, receivers, message);
    const batch = this.#push.batch(appid, message, receivers.length);
    for (const uid of receivers) {
      const m = this.#stagedFor(appid, uid);
      if (m === undefined) {
        this.#send(this.#subjects.user(appid, uid), EMPTY, this.#push.replyTo(this.#push.ask(appid, uid, batch)));
      } else if (m.question === undefined) {
        m.question = this.#push.ask(appid, uid, batch);
      } else {
        m.question.batches.push(batch);
      }
    }
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
  }

  /**
   * A question on a user's subject: a message (or an empty one) asks whether the user is
   * held here with no connection online; ONLINE_QUESTION whether it is held here online.
   */
  #answer(m: Msg, online: boolean): void {
    const t = m.subject.split('.');
    const state = desiredState(Kind.USER, this.#o.table.count(Kind.USER, Number(t[t.length - 2]), Number(t[t.length - 1])));
    if (online ? state === Told.ONLINE : state === Told.OFFLINE) m.respond(online ? ONLINE_HERE : HELD_OFFLINE);
  }

  #send(subject: string, data: Uint8Array, reply?: string): void {
    if (this.state === 'up') {
      this.#nc!.publish(subject, data, reply === undefined ? undefined : { reply });
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
