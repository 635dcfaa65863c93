import { QueueKind, type ImportTarget, type ImportedMessage, type QueueRef } from '../store/types.ts';
import { cmdName } from '../protocol/names.ts';
import { ImportError, RecordLookup, listLog, readFileRecords, type LogFile } from './ims-folder.ts';
import {
  MESSAGE_CMDS, QUEUE_FLAG_GROUP_IM, QueueCmd, RETIRED_QUEUE_CMDS, messageTime, readQueueEntry, type Damage, type LogRecord,
} from './ims-log.ts';

export interface ImportOptions {
  ims: string;
  target: ImportTarget;
  /** GoBelieve's device numbers → ours (from its Redis); absent: no message keeps its device (no SELF). */
  devices?: Map<number, number>;
  /** Write into queues that already hold messages (keys they hold are kept). */
  force: boolean;
  batchRows?: number;
  batchBytes?: number;
  onProgress?: (p: Progress) => void;
  /** How often onProgress is called, ms. */
  progressEveryMs?: number;
}

export interface Progress {
  pass: 'check' | 'import';
  file: string;
  bytesRead: number;
  bytesTotal: number;
  written: number;
}

export interface ImportReport {
  files: { name: string; bytes: number }[];
  /** Message records by cmd name. */
  messages: Record<string, number>;
  userEntries: number;
  /** User-queue entries of a normal group's message (a copy per member). */
  normalGroupCopies: number;
  groupEntries: number;
  /** Queues whose first entry (seq 1) is in the log: users, super groups. */
  queuesBegun: { user: number; group: number };
  written: number;
  /** Entries whose key their queue already held (with --force, or a second run). */
  alreadyThere: number;
  devices: { mapped: number; unmapped: number; dropped: number };
  skipped: {
    retiredQueueRecords: number;
    otherMessageRecords: Record<string, number>;
    entriesWithoutMessage: number;
    messagesWithoutEntry: number;
    unreadable: number;
  };
  damage: Damage[];
}

/** Message records held for the queue records that follow them; others are read by position. */
const RECENT = 1024;
const OCCUPIED_CHECK = 10_000;

interface Held {
  rec: LogRecord;
  filed: boolean;
}

/**
 * Reads a stopped ims storage folder and writes every queue entry into the store at its
 * own key (the ims message id, a client's sync key). Streams the log, a file at a time,
 * in batches of `batchRows` rows: memory does not grow with the log. A first pass checks,
 * before anything is written, that no queue it would write already holds messages.
 */
export async function importIms(o: ImportOptions): Promise<ImportReport> {
  const files = listLog(o.ims);
  const total = files.reduce((n, f) => n + f.size, 0);
  if (!o.force) await checkEmpty(o, files, total);
  return writeAll(o, files, total);
}

function progressor(o: ImportOptions, pass: Progress['pass'], total: number): { bytes(n: number, file: string, written: number): void } {
  let read = 0;
  let last = performance.now();
  return {
    bytes(n, file, written) {
      read += n;
      const now = performance.now();
      if (o.onProgress === undefined || now - last < (o.progressEveryMs ?? 2000)) return;
      last = now;
      o.onProgress({ pass, file, bytesRead: read, bytesTotal: total, written });
    },
  };
}

async function checkEmpty(o: ImportOptions, files: LogFile[], total: number): Promise<void> {
  const p = progressor(o, 'check', total);
  let pending = new Map<string, QueueRef>();
  const check = async () => {
    const taken = await o.target.occupied([...pending.values()]);
    pending = new Map();
    if (taken.length > 0) {
      const names = taken.slice(0, 5).map((q) => `${q.kind === QueueKind.USER ? 'user' : 'group'} ${q.appid}/${q.owner}`).join(', ');
      throw new ImportError('ERR_STORE_NOT_EMPTY',
        `the store already holds messages for queues this log would write (${names}${taken.length > 5 ? ', …' : ''}); `
        + 'import into an empty store, or pass --force to add to them (keys they already hold are kept)');
    }
  };
  for (const f of files) {
    for await (const rec of readFileRecords(f, () => {}, (n) => p.bytes(n, f.name, 0))) {
      if (rec.cmd !== QueueCmd.USER && rec.cmd !== QueueCmd.GROUP) continue;
      const e = readQueueEntry(rec.body);
      if (e === undefined) continue;
      const kind = rec.cmd === QueueCmd.USER ? QueueKind.USER : QueueKind.GROUP;
      pending.set(`${e.appid}:${kind}:${e.owner}`, { appid: e.appid, kind, owner: e.owner });
      if (pending.size >= OCCUPIED_CHECK) await check();
    }
  }
  await check();
}

async function writeAll(o: ImportOptions, files: LogFile[], total: number): Promise<ImportReport> {
  const report: ImportReport = {
    files: files.map((f) => ({ name: f.name, bytes: f.size })),
    messages: {}, userEntries: 0, normalGroupCopies: 0, groupEntries: 0, queuesBegun: { user: 0, group: 0 },
    written: 0, alreadyThere: 0, devices: { mapped: 0, unmapped: 0, dropped: 0 },
    skipped: { retiredQueueRecords: 0, otherMessageRecords: {}, entriesWithoutMessage: 0, messagesWithoutEntry: 0, unreadable: 0 },
    damage: [],
  };
  const batchRows = o.batchRows ?? 5000;
  const batchBytes = o.batchBytes ?? 8 << 20;
  const lookup = new RecordLookup(files);
  const recent = new Map<number, Held>();
  const p = progressor(o, 'import', total);
  let batch: ImportedMessage[] = [];
  let bytes = 0;
  let lastTime = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const n = await o.target.importMessages(batch);
    report.written += n;
    report.alreadyThere += batch.length - n;
    batch = [];
    bytes = 0;
  };
  // The reader's bodies are views into its buffer: a held one is copied (a looked-up one has a buffer of its own).
  const hold = (rec: LogRecord) => {
    recent.set(rec.id, { rec: { ...rec, body: Buffer.from(rec.body) }, filed: false });
    if (recent.size > RECENT) {
      const [id, old] = recent.entries().next().value!;
      recent.delete(id);
      if (!old.filed) report.skipped.messagesWithoutEntry++;
    }
  };
  const device = (n: number): number => {
    if (n === 0) return 0;
    if (o.devices === undefined) {
      report.devices.dropped++;
      return 0;
    }
    const ours = o.devices.get(n);
    if (ours === undefined) report.devices.unmapped++;
    else report.devices.mapped++;
    return ours ?? 0;
  };
  try {
    for (const f of files) {
      const damaged = (d: Damage) => report.damage.push(d);
      for await (const rec of readFileRecords(f, damaged, (n) => p.bytes(n, f.name, report.written))) {
        if (MESSAGE_CMDS.has(rec.cmd) && rec.version === 2) {
          report.messages[cmdName(rec.cmd)] = (report.messages[cmdName(rec.cmd)] ?? 0) + 1;
          hold(rec);
          continue;
        }
        if (RETIRED_QUEUE_CMDS.has(rec.cmd)) {
          report.skipped.retiredQueueRecords++;
          continue;
        }
        if (rec.cmd !== QueueCmd.USER && rec.cmd !== QueueCmd.GROUP) {
          const name = `${cmdName(rec.cmd)} version ${rec.version}`;
          report.skipped.otherMessageRecords[name] = (report.skipped.otherMessageRecords[name] ?? 0) + 1;
          continue;
        }
        const e = readQueueEntry(rec.body);
        if (e === undefined) {
          report.skipped.unreadable++;
          continue;
        }
        const held = recent.get(e.msgid);
        const msg = held?.rec ?? lookup.read(e.msgid);
        if (msg === undefined || !MESSAGE_CMDS.has(msg.cmd) || msg.version !== 2) {
          report.skipped.entriesWithoutMessage++;
          continue;
        }
        if (held !== undefined) held.filed = true;
        const user = rec.cmd === QueueCmd.USER;
        if (user) {
          report.userEntries++;
          if (rec.flag & QUEUE_FLAG_GROUP_IM) report.normalGroupCopies++;
        } else {
          report.groupEntries++;
        }
        if (e.seq === 1) user ? report.queuesBegun.user++ : report.queuesBegun.group++;
        // Retention reads saved_at: a message's own time, else the last one seen before it.
        lastTime = messageTime(msg.cmd, msg.body) ?? (lastTime || Math.floor(Date.now() / 1000));
        batch.push({
          appid: e.appid, kind: user ? QueueKind.USER : QueueKind.GROUP, owner: e.owner, key: e.msgid,
          deviceId: device(e.device), cmd: msg.cmd, body: msg.body, savedAt: lastTime * 1000,
        });
        bytes += msg.body.length;
        if (batch.length >= batchRows || bytes >= batchBytes) await flush();
      }
    }
    await flush();
  } finally {
    lookup.close();
  }
  for (const h of recent.values()) if (!h.filed) report.skipped.messagesWithoutEntry++;
  return report;
}
