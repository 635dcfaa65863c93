import { HEADER_SIZE, MAX_BODY } from './constants.ts';
import { ProtocolError, ProtocolErrorCode } from './errors.ts';
import type { MessageCodec } from './messages.ts';

export interface Frame {
  seq: number;
  cmd: number;
  version: number;
  flag: number;
  /** A view into the received bytes; Node never reuses a socket's chunks, so it may be kept. */
  body: Buffer;
}

export function writeHeader(b: Buffer, off: number, bodyLength: number, seq: number, cmd: number, version: number, flag: number): void {
  b[off] = bodyLength >>> 24;
  b[off + 1] = bodyLength >>> 16;
  b[off + 2] = bodyLength >>> 8;
  b[off + 3] = bodyLength;
  b[off + 4] = seq >>> 24;
  b[off + 5] = seq >>> 16;
  b[off + 6] = seq >>> 8;
  b[off + 7] = seq;
  b[off + 8] = cmd;
  b[off + 9] = version;
  b[off + 10] = flag;
  b[off + 11] = 0;
}

const readI32 = (b: Uint8Array, p: number) => (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;

export function encodeFrame<T>(codec: MessageCodec<T>, msg: T, seq: number, version: number, flag = 0): Buffer {
  const body = codec.forVersion(version);
  const n = body.size(msg);
  if (n > MAX_BODY) throw new RangeError(`${codec.name} body of ${n} bytes exceeds ${MAX_BODY}`);
  const b = Buffer.allocUnsafe(HEADER_SIZE + n);
  writeHeader(b, 0, n, seq, codec.cmd, version, flag);
  body.encode(msg, b, HEADER_SIZE);
  return b;
}

/** Encodes just a body (no header) for `version`, into a fresh buffer of its exact size. */
export function encodeBody<T>(codec: MessageCodec<T>, msg: T, version: number): Buffer {
  const body = codec.forVersion(version);
  const b = Buffer.allocUnsafe(body.size(msg));
  body.encode(msg, b, 0);
  return b;
}

/**
 * Reads one whole frame from `b` (exactly one frame, as a route message embeds). Returns the
 * frame, or a ProtocolError when the bytes are not exactly one well-formed frame.
 */
export function parseFrame(b: Buffer, accept?: Uint8Array): Frame | ProtocolError {
  if (b.length < HEADER_SIZE) {
    return new ProtocolError(ProtocolErrorCode.BODY_TOO_SHORT, `frame of ${b.length} bytes is shorter than its header`);
  }
  const len = readI32(b, 0);
  const cmd = b[8]!;
  if (len < 0 || len > MAX_BODY || HEADER_SIZE + len !== b.length) {
    return new ProtocolError(ProtocolErrorCode.BODY_LENGTH, `body length ${len} does not match a ${b.length}-byte frame`, cmd);
  }
  if (accept !== undefined && accept[cmd] !== 1) {
    return new ProtocolError(ProtocolErrorCode.CMD_NOT_ALLOWED, `cmd ${cmd} is not accepted here`, cmd);
  }
  return { seq: readI32(b, 4), cmd, version: b[9]!, flag: b[10]!, body: b.subarray(HEADER_SIZE) };
}

const HEADER_SCRATCH = Buffer.alloc(HEADER_SIZE);

export interface FrameDecoderOptions {
  /** Largest body accepted (default MAX_BODY, the protocol's own limit). */
  maxBody?: number;
  /** 256-entry table, 1 for each cmd accepted; others fail with ERR_CMD_NOT_ALLOWED. */
  accept?: Uint8Array;
}

/**
 * Streaming frame decoder for a byte stream (TCP). Frames wholly inside one chunk are
 * handed out as views; only a frame that spans chunks is copied. Limits and the cmd
 * whitelist are checked from the header, before the body is waited for or allocated.
 * After an error the decoder stays failed: the caller closes the connection.
 */
export class FrameDecoder {
  readonly #maxBody: number;
  readonly #accept: Uint8Array | undefined;
  /** Unconsumed bytes, oldest first; #head is the read offset into the first. */
  #chunks: Buffer[] = [];
  #head = 0;
  #buffered = 0;
  #error: ProtocolError | undefined;

  constructor(options: FrameDecoderOptions = {}) {
    this.#maxBody = options.maxBody ?? MAX_BODY;
    this.#accept = options.accept;
  }

  get error(): ProtocolError | undefined {
    return this.#error;
  }

  /** Bytes received but not yet part of a whole frame. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Feeds one chunk; calls onFrame for each whole frame. Returns the error that stopped decoding, if any. */
  push(chunk: Buffer, onFrame: (frame: Frame) => void): ProtocolError | undefined {
    if (this.#error !== undefined) return this.#error;
    if (chunk.length === 0) return undefined;
    if (this.#buffered === 0) return this.#scan(chunk, 0, onFrame);

    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    while (this.#buffered >= HEADER_SIZE) {
      const header = this.#peekHeader();
      const err = this.#check(header, 0);
      if (err !== undefined) return this.#fail(err);
      const size = HEADER_SIZE + readI32(header, 0);
      if (this.#buffered < size) return undefined;
      const bytes = this.#take(size);
      onFrame(this.#frameAt(bytes, 0, size));
      if (this.#chunks.length === 1) {
        // Back to the copy-free path for whatever the last chunk still holds.
        const rest = this.#chunks[0]!;
        const at = this.#head;
        this.#chunks = [];
        this.#head = 0;
        this.#buffered = 0;
        return this.#scan(rest, at, onFrame);
      }
    }
    return undefined;
  }

  #scan(b: Buffer, p: number, onFrame: (frame: Frame) => void): ProtocolError | undefined {
    while (b.length - p >= HEADER_SIZE) {
      const err = this.#check(b, p);
      if (err !== undefined) return this.#fail(err);
      const size = HEADER_SIZE + readI32(b, p);
      if (b.length - p < size) break;
      onFrame(this.#frameAt(b, p, size));
      p += size;
    }
    if (p < b.length) {
      this.#chunks.push(b);
      this.#head = p;
      this.#buffered = b.length - p;
    }
    return undefined;
  }

  #check(b: Buffer, p: number): ProtocolError | undefined {
    const len = readI32(b, p);
    const cmd = b[p + 8]!;
    if (len < 0 || len > this.#maxBody) {
      return new ProtocolError(ProtocolErrorCode.BODY_LENGTH, `body length ${len} is outside 0..${this.#maxBody}`, cmd);
    }
    if (this.#accept !== undefined && this.#accept[cmd] !== 1) {
      return new ProtocolError(ProtocolErrorCode.CMD_NOT_ALLOWED, `cmd ${cmd} is not accepted here`, cmd);
    }
    return undefined;
  }

  #frameAt(b: Buffer, p: number, size: number): Frame {
    return {
      seq: readI32(b, p + 4),
      cmd: b[p + 8]!,
      version: b[p + 9]!,
      flag: b[p + 10]!,
      body: b.subarray(p + HEADER_SIZE, p + size),
    };
  }

  #peekHeader(): Buffer {
    const first = this.#chunks[0]!;
    if (first.length - this.#head >= HEADER_SIZE) return first.subarray(this.#head, this.#head + HEADER_SIZE);
    // One scratch header per thread, not per decoder (we hold many connections): it is read
    // at once by the caller, before any other decoder can run.
    this.#copyOut(HEADER_SCRATCH, HEADER_SIZE, false);
    return HEADER_SCRATCH;
  }

  /** Removes n bytes from the front: a view when they lie in one chunk, else a copy. */
  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length - this.#head >= n) {
      out = first.subarray(this.#head, this.#head + n);
      this.#head += n;
      if (this.#head === first.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
    } else {
      out = Buffer.allocUnsafe(n);
      this.#copyOut(out, n, true);
    }
    this.#buffered -= n;
    return out;
  }

  #copyOut(dst: Buffer, n: number, consume: boolean): void {
    let copied = 0;
    let i = 0;
    let head = this.#head;
    while (copied < n) {
      const c = this.#chunks[i]!;
      const k = Math.min(n - copied, c.length - head);
      c.copy(dst, copied, head, head + k);
      copied += k;
      head += k;
      if (head === c.length) {
        i++;
        head = 0;
      }
    }
    if (consume) {
      this.#chunks.splice(0, i);
      this.#head = head;
    }
  }

  #fail(err: ProtocolError): ProtocolError {
    this.#error = err;
    this.#chunks = [];
    this.#buffered = 0;
    return err;
  }
}
