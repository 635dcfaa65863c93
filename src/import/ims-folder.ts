import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { LOG, decodeRecord, fileNoOf, offsetOf, type Damage, type LogRecord } from './ims-log.ts';

export class ImportError extends Error {
  override readonly name = 'ImportError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export interface LogFile {
  no: number;
  name: string;
  path: string;
  size: number;
}

const CHUNK = 4 << 20;

/** The log files of an ims storage folder, oldest first; an ImportError when it is no such folder. */
export function listLog(dir: string): LogFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new ImportError('ERR_NOT_IMS', `cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const files = names.flatMap((name) => {
    const m = /^message_(\d+)$/.exec(name);
    return m === null ? [] : [{ no: Number(m[1]), name, path: join(dir, name), size: statSync(join(dir, name)).size }];
  }).sort((a, b) => a.no - b.no);
  if (files.length === 0) throw new ImportError('ERR_NOT_IMS', `${dir} is not an ims storage folder: it has no message_N files`);
  for (const f of files) {
    const head = Buffer.alloc(8);
    const fd = openSync(f.path, 'r');
    try {
      readSync(fd, head, 0, 8, 0);
    } finally {
      closeSync(fd);
    }
    if (f.size < LOG.HEADER || head.readInt32BE(0) !== LOG.MAGIC || head.readInt32BE(4) !== LOG.FORMAT) {
      throw new ImportError('ERR_NOT_IMS', `${f.path} is not an ims log file (no ims header)`);
    }
  }
  return files;
}

/** Whether ims is still writing: the newest file grows within `ms`. */
export async function stillWritten(files: LogFile[], ms: number): Promise<boolean> {
  const last = files.at(-1)!;
  const before = statSync(last.path);
  await new Promise((r) => setTimeout(r, ms));
  const after = statSync(last.path);
  return after.size !== before.size || after.mtimeMs !== before.mtimeMs;
}

/**
 * Every record of one file in order, read in 4 MiB chunks into one buffer that is reused
 * (a fresh one per read would leave hundreds of MiB of dead chunks for the collector). A
 * record's body is a view into that buffer: copy what outlives the step. Stops at a torn or
 * corrupt record and reports it.
 */
export async function* readFileRecords(f: LogFile, onDamage: (d: Damage) => void, onBytes?: (n: number) => void): AsyncGenerator<LogRecord> {
  const fh = await open(f.path, 'r');
  // Room for a chunk after the unread tail of the one before (at most one record).
  const buf = Buffer.allocUnsafe(CHUNK + LOG.MAX_BODY + LOG.OVERHEAD);
  try {
    let pos = LOG.HEADER;
    let filled = 0;
    let base = LOG.HEADER;
    let eof = false;
    for (;;) {
      if (!eof) {
        const { bytesRead } = await fh.read(buf, filled, CHUNK, pos);
        pos += bytesRead;
        filled += bytesRead;
        onBytes?.(bytesRead);
        eof = bytesRead === 0 || pos >= f.size;
      }
      const view = buf.subarray(0, filled);
      let at = 0;
      for (;;) {
        if (at === filled) {
          if (eof) return;
          break;
        }
        const r = decodeRecord(view, at, eof, f.no, f.name, base);
        if (r === 'more') break;
        if ('kind' in r) return onDamage(r);
        yield r.rec;
        at += r.length;
      }
      buf.copyWithin(0, at, filled);
      filled -= at;
      base += at;
    }
  } finally {
    await fh.close();
  }
}

/** Reads single records by id (a queue record whose message is not the record before it). */
export class RecordLookup {
  readonly #files = new Map<number, LogFile>();
  readonly #fds = new Map<number, number>();

  constructor(files: LogFile[]) {
    for (const f of files) this.#files.set(f.no, f);
  }

  read(id: number): LogRecord | undefined {
    const f = this.#files.get(fileNoOf(id));
    if (f === undefined) return undefined;
    let fd = this.#fds.get(f.no);
    if (fd === undefined) {
      fd = openSync(f.path, 'r');
      this.#fds.set(f.no, fd);
    }
    const offset = offsetOf(id);
    const head = Buffer.alloc(16);
    if (readSync(fd, head, 0, 16, offset) < 16 || head.readInt32BE(0) !== LOG.MAGIC) return undefined;
    const len = head.readInt32BE(4);
    if (len < 0 || len > LOG.MAX_BODY) return undefined;
    const whole = Buffer.alloc(LOG.OVERHEAD + len);
    if (readSync(fd, whole, 0, whole.length, offset) < whole.length) return undefined;
    const r = decodeRecord(whole, 0, true, f.no, f.name, offset);
    return typeof r === 'object' && 'rec' in r ? r.rec : undefined;
  }

  close(): void {
    for (const fd of this.#fds.values()) closeSync(fd);
    this.#fds.clear();
  }
}
