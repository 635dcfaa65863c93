import { EventEmitter } from 'node:events';
import {
  AuthStatus, Cmd, Flag, FrameDecoder, PROTOCOL_VERSION, Platform, SERVER_CMDS, codecByCmd, codecs,
  encodeFrame, ProtocolError, readI64, type Body, type Frame, type MessageCodec,
} from '../protocol/index.ts';
import { connectTransport, type ConnectOptions, type Transport } from './transport.ts';
import { Positions, ownCopy } from './positions.ts';
import { ACKED, AckTimeoutError, ClientClosedError, EVENT_OF, jwtUid, readKey, type ClientEvents, type Msg, type SyncResult, type SyncedMessage } from './events.ts';

export interface ClientOptions extends ConnectOptions {
  /** Protocol version announced by this client (0, 1 or 2; default 2). */
  version?: number;
  /** This client's uid: the default sender of the messages it sends. */
  uid?: number;
  /** Answer every message the server pushes with an ACK, as reference clients do (default true). */
  autoAck?: boolean;
  /** How long sendIM & co. wait for the server's ACK before rejecting with ERR_ACK_TIMEOUT (default 30 s). */
  ackTimeoutMs?: number;
  /** The key this device had synced to (saved from `lastKey` last time): `sync()` goes on from it. */
  lastKey?: number;
}

export interface AuthOptions {
  token: string;
  platform?: number;
  deviceId?: string;
}

interface Pending<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
}

/**
 * A GoBelieve-protocol client over TCP, TLS, WebSocket or WSS. It numbers its own frames,
 * decodes everything the server sends into typed events, and can acknowledge pushed
 * messages automatically.
 */
export class ImClient extends EventEmitter<ClientEvents> {
  readonly version: number;
  uid: number | undefined;
  readonly #transport: Transport;
  readonly #decoder = new FrameDecoder({ accept: SERVER_CMDS });
  readonly #autoAck: boolean;
  readonly #ackTimeoutMs: number;
  #seq = 0;
  #closed = false;
  /** close() was called: nothing more is written, not even automatic ACKs. */
  #closing = false;
  #acks = new Map<number, Pending<Msg<'ACK'>> & { own?: string }>();
  #auth: Pending<number> | undefined;
  #pongs: Pending<void>[] = [];
  readonly #positions: Positions;
  /** Between SYNC_BEGIN and SYNC_END: the messages are the sync's, not events. */
  #syncing = false;

  private constructor(transport: Transport, o: ClientOptions) {
    super();
    this.#transport = transport;
    this.version = o.version ?? PROTOCOL_VERSION;
    this.uid = o.uid;
    this.#autoAck = o.autoAck ?? true;
    this.#ackTimeoutMs = o.ackTimeoutMs ?? 30_000;
    this.#positions = new Positions(o.lastKey);
    transport.onData = (chunk) => {
      const err = this.#decoder.push(chunk, (f) => this.#dispatch(f));
      if (err !== undefined) this.#protocolError(err);
    };
    transport.onClose = (err) => this.#onClose(err);
  }

  static async connect(o: ClientOptions): Promise<ImClient> {
    return new ImClient(await connectTransport(o), o);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The key of the newest message this client delivered with none missing before it (by a
   * sync, or a push that followed on from it): what `sync()` goes on from. Keep it to pass as
   * `lastKey` next time; undefined until the first sync.
   */
  get lastKey(): number | undefined {
    return this.#positions.key;
  }

  /** The same for a super group's queue. */
  groupKey(gid: number): number | undefined {
    return this.#positions.groupKey(gid);
  }

  /** Sends a message; returns the seq it was sent with. */
  post<T>(codec: MessageCodec<T>, msg: T, flag = 0): number {
    if (this.#closed || this.#closing) throw new ClientClosedError('client is closed');
    const seq = ++this.#seq;
    this.#transport.write(encodeFrame(codec, msg, seq, this.version, flag));
    return seq;
  }

  /** Authenticates; resolves with the AUTH_STATUS status (0 ok, 1 failed). */
  auth(o: AuthOptions): Promise<number> {
    // A JWT names its user: a `uid` option that differs would have every message dropped by
    // the server (sender is not the authenticated user) and each send wait for an ACK in vain.
    const claimed = jwtUid(o.token);
    if (claimed !== undefined) {
      if (this.uid !== undefined && this.uid !== claimed) {
        return Promise.reject(new RangeError(`the uid option (${this.uid}) is not the token's uid (${claimed})`));
      }
      this.uid = claimed;
    }
    const p = new Promise<number>((resolve, reject) => { this.#auth = { resolve, reject }; });
    this.post(codecs.AUTH_TOKEN, {
      platform_id: o.platform ?? Platform.ANDROID,
      token: o.token,
      device_id: o.deviceId ?? `node-${process.pid}-${this.#seq}`,
    });
    return p;
  }

  ping(): Promise<void> {
    const p = new Promise<void>((resolve, reject) => this.#pongs.push({ resolve, reject }));
    this.post(codecs.PING, {});
    return p;
  }

  /** Sends a peer message; resolves with the server's ACK. */
  sendIM(m: { receiver: number; content: Buffer | string; msgid?: number; timestamp?: number; sender?: number; flag?: number }): Promise<Msg<'ACK'>> {
    const body = this.#im(m);
    return this.#acked(this.post(codecs.IM, body, m.flag ?? 0), ownCopy(Cmd.IM, body));
  }

  /** Sends a group message (receiver is the group id); resolves with the server's ACK. */
  sendGroupIM(m: { receiver: number; content: Buffer | string; msgid?: number; timestamp?: number; sender?: number; flag?: number }): Promise<Msg<'ACK'>> {
    const body = this.#im(m);
    return this.#acked(this.post(codecs.GROUP_IM, body, m.flag ?? 0), ownCopy(Cmd.GROUP_IM, body));
  }

  /** Sends a realtime message; the server does not acknowledge it. */
  sendRT(m: { receiver: number; content: Buffer | string; sender?: number }): number {
    return this.post(codecs.RT, { sender: this.#sender(m.sender), receiver: m.receiver, content: bytes(m.content) });
  }

  /** Sends a message to the room this connection is in; resolves with the server's ACK. */
  sendRoomIM(m: { room: number; content: Buffer | string; sender?: number }): Promise<Msg<'ACK'>> {
    return this.#acked(this.post(codecs.ROOM_IM, { sender: this.#sender(m.sender), receiver: m.room, content: bytes(m.content) }));
  }

  sendCustomer(m: {
    receiverAppid: number; receiver: number; content: Buffer | string;
    senderAppid: number; sender?: number; timestamp?: number;
  }): Promise<Msg<'ACK'>> {
    const body = {
      sender_appid: m.senderAppid, sender: this.#sender(m.sender), receiver_appid: m.receiverAppid,
      receiver: m.receiver, timestamp: m.timestamp ?? nowSeconds(), content: bytes(m.content),
    };
    return this.#acked(this.post(codecs.CUSTOMER_V2, body), ownCopy(Cmd.CUSTOMER_V2, body));
  }

  enterRoom(room: number): number {
    return this.post(codecs.ENTER_ROOM, { room_id: room });
  }

  leaveRoom(room: number): number {
    return this.post(codecs.LEAVE_ROOM, { room_id: room });
  }

  /**
   * SYNC(key): the messages the server stores for this user after `key` (0: after the key
   * last acknowledged with syncKey), oldest first, and the key to ask from next. A SYNC_NOTIFY
   * right after means more wait: sync again.
   *
   * Without `key` it goes on from `lastKey` and leaves out what this client already
   * delivered as an event: each message reaches the application once, pushed or synced. A
   * message of a sync reply is never an event too. With `key`, it is the server's answer as
   * it is.
   */
  async sync(key?: number, timeoutMs = 10_000): Promise<SyncResult> {
    const r = await this.#collectSync(codecs.SYNC, { sync_key: key ?? this.#positions.key ?? 0 }, Cmd.SYNC_END, timeoutMs);
    return { key: r.key, messages: this.#positions.synced(r.messages, r.key, undefined, key === undefined) };
  }

  /** SYNC_GROUP(gid, key): the newest messages of a super group after `key` (default: this client's key of the group, as sync()). */
  async syncGroup(gid: number, key?: number, timeoutMs = 10_000): Promise<SyncResult> {
    const r = await this.#collectSync(codecs.SYNC_GROUP, { group_id: gid, sync_key: key ?? this.#positions.groupKey(gid) ?? 0 }, Cmd.SYNC_GROUP_END, timeoutMs);
    return { key: r.key, messages: this.#positions.synced(r.messages, r.key, gid, key === undefined) };
  }

  /** SYNC_KEY: the newest key this device has; the server keeps the greatest any device sent. */
  syncKey(key: number): number {
    return this.post(codecs.SYNC_KEY, { sync_key: key });
  }

  groupSyncKey(gid: number, key: number): number {
    return this.post(codecs.GROUP_SYNC_KEY, { group_id: gid, sync_key: key });
  }

  #collectSync<T>(codec: MessageCodec<T>, msg: T, endCmd: number, timeoutMs: number): Promise<SyncResult> {
    return new Promise((resolve, reject) => {
      const messages: SyncedMessage[] = [];
      let begun = false;
      const done = (err?: Error, r?: SyncResult) => {
        clearTimeout(timer);
        this.off('frame', on);
        this.off('close', onClose);
        if (err !== undefined) reject(err);
        else resolve(r!);
      };
      const on = (f: Frame) => {
        if (f.cmd === Cmd.SYNC_BEGIN || f.cmd === Cmd.SYNC_GROUP_BEGIN) return void (begun = true);
        if (!begun) return;
        if (f.cmd === endCmd) return done(undefined, { key: readKey(f), messages });
        if (f.flag & Flag.PUSH || f.cmd === Cmd.METADATA || f.cmd === Cmd.SYNC_NOTIFY || f.cmd === Cmd.SYNC_GROUP_NOTIFY) return;
        const codec = codecByCmd[f.cmd];
        const body = codec === undefined ? undefined : codec.forVersion(f.version).decode(f.body, 0, f.body.length);
        messages.push({ cmd: f.cmd, flag: f.flag, body: body instanceof ProtocolError ? undefined : body, frame: f });
      };
      const onClose = () => done(new ClientClosedError('connection closed during a sync'));
      const timer = setTimeout(() => done(new Error(`no sync reply within ${timeoutMs} ms`)), timeoutMs);
      this.on('frame', on);
      this.on('close', onClose);
      this.post(codec, msg);
    });
  }

  /** Resolves with the next frame of `cmd` the server sends (optionally matching `where`). */
  next<K extends keyof ClientEvents>(event: K, timeoutMs = 5000): Promise<ClientEvents[K]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off(event, on as never);
        reject(new Error(`no ${String(event)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (...args: ClientEvents[K]) => {
        clearTimeout(timer);
        resolve(args);
      };
      this.once(event, on as never);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    await this.#transport.close();
  }

  destroy(): void {
    this.#transport.destroy();
  }

  #im(m: { receiver: number; content: Buffer | string; msgid?: number; timestamp?: number; sender?: number }): Msg<'IM'> {
    return {
      sender: this.#sender(m.sender), receiver: m.receiver, timestamp: m.timestamp ?? nowSeconds(),
      msgid: m.msgid ?? 0, content: bytes(m.content),
    };
  }

  #sender(s: number | undefined): number {
    const v = s ?? this.uid;
    if (v === undefined) throw new TypeError('sender is required when the client was created without a uid');
    return v;
  }

  /** `own`: the message's ownCopy, for Positions to leave out of a later sync. */
  #acked(seq: number, own?: string): Promise<Msg<'ACK'>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#acks.delete(seq);
        reject(new AckTimeoutError(`no ACK for seq ${seq} within ${this.#ackTimeoutMs} ms`));
      }, this.#ackTimeoutMs);
      timer.unref();
      this.#acks.set(seq, {
        own,
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
    });
  }

  #dispatch(f: Frame): void {
    this.emit('frame', f);
    if (f.cmd === Cmd.PONG) {
      this.#pongs.shift()?.resolve();
      this.emit('pong', f);
      return;
    }
    const codec = codecByCmd[f.cmd];
    const event = EVENT_OF[f.cmd];
    if (codec === undefined || event === undefined) return;
    const msg = codec.forVersion(f.version).decode(f.body, 0, f.body.length);
    if (msg instanceof ProtocolError) return this.#protocolError(msg);
    if (f.cmd === Cmd.AUTH_STATUS) {
      const status = (msg as Msg<'AUTH_STATUS'>).status;
      this.#auth?.resolve(status);
      this.#auth = undefined;
    } else if (f.cmd === Cmd.ACK) {
      const ack = msg as Msg<'ACK'>;
      const p = this.#acks.get(ack.seq);
      this.#positions.acked((f.flag & Flag.SUPER_GROUP) !== 0, ack.status === 0 ? p?.own : undefined);
      if (p !== undefined) {
        this.#acks.delete(ack.seq);
        p.resolve(ack);
      }
    } else if (f.cmd === Cmd.METADATA) {
      const m = msg as Msg<'METADATA'>;
      this.#positions.metadata(m.sync_key, m.prev_sync_key);
    } else if (f.cmd === Cmd.SYNC_BEGIN || f.cmd === Cmd.SYNC_GROUP_BEGIN || f.cmd === Cmd.SYNC_END || f.cmd === Cmd.SYNC_GROUP_END) {
      this.#syncing = f.cmd === Cmd.SYNC_BEGIN || f.cmd === Cmd.SYNC_GROUP_BEGIN;
    } else if (ACKED.has(f.cmd)) {
      if (this.#autoAck && !this.#closing) this.post(codecs.ACK, { seq: f.seq, status: 0 });
      // A message of a sync reply is the sync's result, not an event too.
      if (this.#syncing && !(f.flag & Flag.PUSH)) return;
      if (f.flag & Flag.PUSH) this.#positions.pushed(f, f.flag & Flag.SUPER_GROUP ? (msg as Msg<'GROUP_IM'>).receiver : undefined);
    }
    (this.emit as (e: string, ...a: unknown[]) => boolean)(event, msg, f);
  }

  #protocolError(err: ProtocolError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.#transport.destroy();
  }

  #onClose(err: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new ClientClosedError('connection closed', { cause: err });
    this.#auth?.reject(closed);
    for (const p of this.#acks.values()) p.reject(closed);
    for (const p of this.#pongs) p.reject(closed);
    this.#acks.clear();
    this.#pongs = [];
    this.emit('close', err);
  }
}

function bytes(c: Buffer | string): Buffer {
  return typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export { AuthStatus };
