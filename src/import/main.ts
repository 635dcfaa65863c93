/**
 * `bin/im-import --ims DIR [--redis URL] [--force] [--config im.cfg]`: moves a stopped
 * GoBelieve deployment's message history into the store `bin/im` uses with the same
 * environment or configuration file (docs/import.md). Exit 0 with a report; exit 2 with one
 * line for anything that stops it before it writes.
 */
import { Redis } from 'ioredis';
import { loadConfig } from '../config/load.ts';
import { ConfigError } from '../config/env.ts';
import { serverConfig, type ServerConfig } from '../config/server.ts';
import { safeUrl } from '../log/redact.ts';
import type { ImportTarget, StoreEngine } from '../store/types.ts';
import { readAcked, readDevices } from './gobelieve-redis.ts';
import { ImportError, listLog, stillWritten } from './ims-folder.ts';
import { importIms, type ImportReport, type Progress } from './importer.ts';

const USAGE = `usage: im-import --ims DIR [--redis URL] [--force] [--config im.cfg]
  --ims DIR      a stopped GoBelieve ims storage folder (its storage_root: message_0, message_1, ...)
  --redis URL    GoBelieve's Redis (redis://[:password@]host:port[/db]): acknowledged sync keys and
                 device numbers (without it, synced messages are never flagged SELF)
  --force        write into queues that already hold messages (the keys they hold are kept)
  --config FILE  im.cfg, as bin/im takes it; IM_STORE, IM_STORE_DB and IM_STORE_URL choose the store
  --settle-ms N  how long the log must stay unchanged before it is read (default 1000)`;

interface Args {
  ims: string;
  redis: string | undefined;
  force: boolean;
  settleMs: number;
  configArgs: string[];
}

function parseArgs(argv: string[]): Args | 'help' {
  const a: Partial<Args> & { configArgs: string[] } = { force: false, settleMs: 1000, configArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new ImportError('ERR_USAGE', `${flag} needs a value`);
      return v;
    };
    if (flag === '--help' || flag === '-h') return 'help';
    else if (flag === '--ims') a.ims = value();
    else if (flag === '--redis') a.redis = value();
    else if (flag === '--force') a.force = true;
    else if (flag === '--settle-ms') a.settleMs = Number(value());
    else if (flag === '--config' || flag === '-c') a.configArgs.push('--config', value());
    else throw new ImportError('ERR_USAGE', `unknown argument ${argv[i]}`);
  }
  if (a.ims === undefined) throw new ImportError('ERR_USAGE', '--ims DIR is required');
  if (!Number.isInteger(a.settleMs) || a.settleMs! < 0) throw new ImportError('ERR_USAGE', '--settle-ms must be a whole number of ms');
  return a as Args;
}

type Target = StoreEngine & ImportTarget;

async function openTarget(config: ServerConfig): Promise<{ target: Target; where: string }> {
  if (config.store === 'off') throw new ImportError('ERR_USAGE', 'IM_STORE=off: there is no store to import into');
  if (config.store === 'postgres') {
    const where = `PostgreSQL at ${safeUrl(config.storeUrl!)} (IM_STORE_URL)`;
    const { PostgresStore } = await import('../store/postgres.ts');
    const target = await PostgresStore.open(config.storeUrl!);
    try {
      await target.ping();
    } catch (err) {
      await target.close().catch(() => {});
      throw new ImportError('ERR_STORE', `cannot reach ${where}: ${(err as Error).message}`);
    }
    return { target, where };
  }
  const where = `SQLite file ${config.storeDb} (IM_STORE_DB)`;
  const { SqliteStore } = await import('../store/sqlite.ts');
  try {
    return { target: new SqliteStore(config.storeDb), where };
  } catch (err) {
    const locked = /locked|busy/i.test((err as Error).message) ? ': is an access server running on it? Stop it first' : '';
    throw new ImportError('ERR_STORE', `cannot open ${where}${locked} (${(err as Error).message})`);
  }
}

async function connectRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, connectTimeout: 5000 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw new ImportError('ERR_REDIS', `cannot reach Redis at ${safeUrl(url)} (--redis): ${(err as Error).message}`);
  }
  return redis;
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

function printProgress(p: Progress): void {
  const pct = p.bytesTotal === 0 ? 100 : Math.floor((100 * p.bytesRead) / p.bytesTotal);
  const what = p.pass === 'check' ? 'checking the store is free for' : 'importing';
  process.stderr.write(`im-import: ${what} ${p.file}: ${mib(p.bytesRead)} of ${mib(p.bytesTotal)} (${pct}%), ${p.written} messages written\n`);
}

function printReport(r: ImportReport, where: string, acked: number | undefined, devicesMapped: number | undefined, ms: number): void {
  const lines = [
    `im-import: done in ${(ms / 1000).toFixed(1)} s (${Math.round(r.written / Math.max(ms / 1000, 0.001))} messages/s, peak memory ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB), into the ${where}`,
    `  files: ${r.files.map((f) => `${f.name} (${f.bytes} bytes)`).join(', ')}`,
    `  message records: ${Object.entries(r.messages).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`,
    `  queue entries: ${r.userEntries} in user queues (${r.normalGroupCopies} of them normal-group copies), ${r.groupEntries} in super-group queues`,
    `  queues begun in this log: ${r.queuesBegun.user} users, ${r.queuesBegun.group} super groups`,
    `  messages written: ${r.written}${r.alreadyThere > 0 ? `; ${r.alreadyThere} already there (kept)` : ''}`,
    acked === undefined ? '  acknowledged keys: not imported (no --redis)' : `  acknowledged keys: ${acked}`,
    devicesMapped === undefined
      ? `  devices: not mapped (no --redis): ${r.devices.dropped} entries keep no device, so a sync never flags them SELF`
      : `  devices: ${devicesMapped} known to Redis; entries mapped ${r.devices.mapped}, with a number Redis does not know ${r.devices.unmapped}`,
  ];
  const s = r.skipped;
  const other = Object.entries(s.otherMessageRecords).map(([k, n]) => `${k} ${n}`).join(', ');
  lines.push(`  skipped: retired queue records (cmds 249-255) ${s.retiredQueueRecords}, queue entries whose message is missing ${s.entriesWithoutMessage}, `
    + `message records filed in no queue ${s.messagesWithoutEntry}, unreadable queue records ${s.unreadable}${other ? `, other records: ${other}` : ''}`);
  for (const d of r.damage) {
    lines.push(d.kind === 'torn'
      ? `  torn record at the end of ${d.file} (offset ${d.offset}: ${d.why}): left out, as ims was stopped while writing it`
      : `  unreadable bytes in ${d.file} from offset ${d.offset} (${d.why}): the rest of that file was not read`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { config } = loadConfig('im', args.configArgs, process.env, serverConfig);
  const files = listLog(args.ims);
  if (args.settleMs > 0 && await stillWritten(files, args.settleMs)) {
    throw new ImportError('ERR_LOG_BUSY', `${files.at(-1)!.path} changed while it was checked: ims is still writing; stop ims first`);
  }
  const redis = args.redis === undefined ? undefined : await connectRedis(args.redis);
  const { target, where } = await openTarget(config);
  const t0 = performance.now();
  try {
    const devices = redis === undefined ? undefined : await readDevices(redis);
    const report = await importIms({ ims: args.ims, target, devices: devices?.numbers, force: args.force, onProgress: printProgress });
    let acked: number | undefined;
    if (redis !== undefined) {
      acked = 0;
      for await (const batch of readAcked(redis)) {
        await target.importAcked(batch);
        acked += batch.length;
      }
    }
    printReport(report, where, acked, devices?.numbers.size, performance.now() - t0);
    return 0;
  } finally {
    redis?.disconnect();
    await target.close();
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  if (!(err instanceof ImportError) && !(err instanceof ConfigError)) throw err;
  process.stderr.write(`im-import: ${err.message}\n`);
  if ((err as ImportError).code === 'ERR_USAGE') process.stderr.write(`${USAGE}\n`);
  process.exitCode = 2;
}
