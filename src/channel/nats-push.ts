import type { Msg } from '@nats-io/transport-node';
import { pushItems, type PushSink, type PushStats } from '../push/push.ts';

/** One message's offline push: its receivers not online on this server, each asked after. */
interface PushBatch {
  appid: number;
  /** The client frame, as the push items quote it. */
  message: Buffer;
  left: number;
  /** Made when the first receiver turns out to be offline: nearly every batch has none. */
  offline: number[] | undefined;
}

/** Is `uid` online somewhere? Several messages to the user may wait on one question. */
export interface Question {
  id: number;
  appid: number;
  uid: number;
  batches: PushBatch[];
  at: number;
  /** A server holding the user offline answered: now servers holding it online are asked to say so. */
  probing: boolean;
}

/** What a server that holds the user, none of its connections online, answers a message with a reply subject. */
export const HELD_OFFLINE = new TextEncoder().encode('offline');
/** The second question, on the user's subject: is it online on your server? */
export const ONLINE_QUESTION = new TextEncoder().encode('?');
/** What a server holding the user online answers the second question. */
export const ONLINE_HERE = new TextEncoder().encode('online');

/**
 * Offline push decided through NATS, as exactly as a router decides it, and in the common
 * case (the receiver online somewhere) without a message more than the message itself:
 *
 * - The message is published on the user's subject with a reply subject of this server's.
 *   With no server holding the user, NATS answers "no responders" (status 503): online
 *   nowhere, pushed.
 * - A server holding the user online takes it in silence: a question no one answers within
 *   `timeoutMs` is settled as online, no push.
 * - A server holding the user with no connection online answers HELD_OFFLINE; then every
 *   server holding the user is asked ONLINE_QUESTION, which only one holding it online
 *   answers (ONLINE_HERE: no push); no such answer within `timeoutMs`: pushed. This second
 *   round happens only for users with such a connection (a web client with notifications
 *   on), so a user costs NATS one subscription, not one for messages and one for presence.
 *
 * A message to many users (a group) is pushed once all its receivers are settled, as one
 * item, in the layout the router writes.
 */
export class NatsOfflinePush {
  readonly #sink: PushSink;
  readonly #timeoutMs: number;
  readonly #inbox: string;
  readonly #probe: (q: Question, reply: string) => void;
  /** Open questions by id, oldest first (Map keeps insertion order). */
  readonly #open = new Map<number, Question>();
  #next = 1;
  checks = 0;

  /** `probe` publishes ONLINE_QUESTION on the user's subject with `reply`. */
  constructor(sink: PushSink, inbox: string, timeoutMs: number, probe: (q: Question, reply: string) => void) {
    this.#sink = sink;
    this.#inbox = inbox;
    this.#timeoutMs = timeoutMs;
    this.#probe = probe;
  }

  /** The subject whose messages answer questions (the inbox and any id under it). */
  get replies(): string {
    return `${this.#inbox}.*`;
  }

  /** A push of `message` to `receivers` users; each is then asked after with `ask`. */
  batch(appid: number, message: Buffer, receivers: number): PushBatch {
    return { appid, message, left: receivers, offline: undefined };
  }

  /** A question about `uid`, for `batch` (more batches may join it while it is unsent). */
  ask(appid: number, uid: number, batch: PushBatch): Question {
    const q: Question = { id: this.#next++, appid, uid, batches: [batch], at: performance.now(), probing: false };
    this.#open.set(q.id, q);
    return q;
  }

  /** The reply subject that carries a question. */
  replyTo(q: Question): string {
    return `${this.#inbox}.${q.id}`;
  }

  /** Every receiver pushed without asking (no NATS node reachable to ask). */
  pushAll(appid: number, receivers: readonly number[], message: Buffer): void {
    this.checks += receivers.length;
    const items = pushItems(appid, receivers, message);
    if (items.length > 0) this.#sink.push(items);
  }

  /** A message on the reply subject: "no responders" (offline), HELD_OFFLINE (ask again), ONLINE_HERE (online). */
  readonly answer = (err: Error | null, m: Msg): void => {
    if (err !== null) return;
    const id = Number(m.subject.slice(this.#inbox.length + 1));
    const q = this.#open.get(id);
    if (q === undefined) return;
    if (m.headers?.code === 503) {
      this.#open.delete(id);
      this.#settleAll(q, true);
    } else if (q.probing) {
      if (m.data.length !== ONLINE_HERE.length) return;
      this.#open.delete(id);
      this.#settleAll(q, false);
    } else if (m.data.length === HELD_OFFLINE.length) {
      // Re-filed as a new question (its own id): the second round.
      this.#open.delete(id);
      const next: Question = { ...q, id: this.#next++, at: performance.now(), probing: true };
      this.#open.set(next.id, next);
      this.#probe(next, this.replyTo(next));
    }
  };

  /**
   * Questions older than the timeout: a first one was taken by a server holding the user
   * online (no push); a second one, asked only of servers holding the user, found none
   * holding it online (push).
   */
  sweep(now = performance.now()): void {
    for (const [id, q] of this.#open) {
      if (now - q.at < this.#timeoutMs) break;
      this.#open.delete(id);
      this.#settleAll(q, q.probing);
    }
  }

  stats(): PushStats & { checks: number; open: number } {
    return { ...this.#sink.stats(), checks: this.checks, open: this.#open.size };
  }

  close(): Promise<void> {
    return this.#sink.close();
  }

  #settleAll(q: Question, offline: boolean): void {
    for (const b of q.batches) {
      if (offline) (b.offline ??= []).push(q.uid);
      this.#settle(b);
    }
  }

  #settle(b: PushBatch): void {
    this.checks++;
    if (--b.left > 0 || b.offline === undefined) return;
    const items = pushItems(b.appid, b.offline, b.message);
    if (items.length > 0) this.#sink.push(items);
  }
}
