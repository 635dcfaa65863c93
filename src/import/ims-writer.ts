import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { LOG, QUEUE_FLAG_GROUP_IM, QueueCmd, encodeHeader, encodeQueueEntry, encodeRecord, idOf } from './ims-log.ts';

interface QueueState {
  seq: number;
  prev: number;
  prevPeer: number;
  prevBatch: number;
}

/**
 * Writes an ims log as ims lays it out (ims-log.ts): a message record, then the queue
 * record that files it. For tests and for the import benchmark's large logs; a file rolls
 * over when the next pair would pass `fileLimit` (ims's own limit by default; smaller to
 * get several files from a small log, as an ims restarted in a new file leaves them).
 */
export class ImsLogWriter {
  readonly #dir: string;
  readonly #fileLimit: number;
  readonly #queues = new Map<string, QueueState>();
  #fileNo = -1;
  #fd = -1;
  #offset = 0;
  #buf = Buffer.allocUnsafe(1 << 20);
  #used = 0;

  constructor(dir: string, o: { fileLimit?: number } = {}) {
    this.#dir = dir;
    this.#fileLimit = Math.min(o.fileLimit ?? LOG.BLOCK, LOG.BLOCK);
    mkdirSync(dir, { recursive: true });
    this.roll();
  }

  /** Starts the next message_N file. */
  roll(): void {
    this.#close();
    this.#fileNo++;
    this.#fd = openSync(join(this.#dir, `message_${this.#fileNo}`), 'w');
    this.#offset = 0;
    this.#append(encodeHeader());
  }

  /** Files a message in a user's queue (a normal group's copy with `groupCopy`); resolves its key. */
  user(appid: number, uid: number, cmd: number, body: Uint8Array, device = 0, groupCopy = false): number {
    return this.#filed(QueueCmd.USER, groupCopy ? QUEUE_FLAG_GROUP_IM : 0, appid, uid, cmd, body, device);
  }

  /** Files a message in a super group's queue. */
  group(appid: number, gid: number, cmd: number, body: Uint8Array, device = 0): number {
    return this.#filed(QueueCmd.GROUP, 0, appid, gid, cmd, body, device);
  }

  /** Any record as it is (a retired kind, a record of another version). */
  raw(cmd: number, version: number, flag: number, body: Uint8Array): number {
    const r = encodeRecord(cmd, version, flag, body);
    this.#fit(r.length);
    return this.#append(r);
  }

  close(): void {
    this.#close();
  }

  #filed(queueCmd: number, flag: number, appid: number, owner: number, cmd: number, body: Uint8Array, device: number): number {
    const message = encodeRecord(cmd, 2, 0, body);
    this.#fit(message.length + LOG.OVERHEAD + 64);
    const msgid = this.#append(message);
    const qk = `${queueCmd}:${appid}:${owner}`;
    const q = this.#queues.get(qk) ?? { seq: 0, prev: 0, prevPeer: 0, prevBatch: 0 };
    q.seq++;
    const entryId = idOf(this.#fileNo, this.#offset);
    const entry = encodeQueueEntry({ appid, owner, msgid, device, seq: q.seq }, q.prev, queueCmd === QueueCmd.USER ? q.prevPeer : 0, q.prevBatch);
    this.#append(encodeRecord(queueCmd, 0, flag, entry));
    q.prev = entryId;
    if (queueCmd === QueueCmd.USER && !(flag & QUEUE_FLAG_GROUP_IM)) q.prevPeer = entryId;
    if (q.seq % 1000 === 0) q.prevBatch = entryId;
    this.#queues.set(qk, q);
    return msgid;
  }

  #fit(n: number): void {
    if (this.#offset + n > this.#fileLimit) this.roll();
  }

  /** Appends bytes; resolves the id (position) they start at. */
  #append(b: Buffer): number {
    const id = idOf(this.#fileNo, this.#offset);
    if (this.#used + b.length > this.#buf.length) this.#flush();
    if (b.length > this.#buf.length) writeSync(this.#fd, b);
    else {
      b.copy(this.#buf, this.#used);
      this.#used += b.length;
    }
    this.#offset += b.length;
    return id;
  }

  #flush(): void {
    if (this.#used > 0) writeSync(this.#fd, this.#buf, 0, this.#used);
    this.#used = 0;
  }

  #close(): void {
    if (this.#fd < 0) return;
    this.#flush();
    closeSync(this.#fd);
    this.#fd = -1;
  }
}
