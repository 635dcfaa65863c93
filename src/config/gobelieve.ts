/**
 * GoBelieve's `im.cfg` and `imr.cfg` (TOML, the keys of its `*.cfg.sample`) turned into this
 * project's environment variables, so an operator replacing GoBelieve keeps the files they
 * have. Keys of GoBelieve releases before TOML (`route_pool`, `redis_address`, …) are read too
 * when their values are quoted. What has no counterpart here is reported, never guessed.
 */
import { ConfigError } from './env.ts';

export type Program = 'im' | 'imr';

/** What a file says, as environment variables, with the key each came from. */
export interface FileSettings {
  env: Record<string, string>;
  /** Variable → the file's key it was taken from (or a note when it is GoBelieve's default). */
  from: Record<string, string>;
  /** Keys present in the file that this project does not use, with why where it helps. */
  ignored: string[];
}

type Table = Record<string, unknown>;

class Reader {
  readonly out: FileSettings = { env: {}, from: {}, ignored: [] };
  readonly #used = new Set<string>();
  readonly file: string;
  readonly doc: Table;
  constructor(file: string, doc: Table) {
    this.file = file;
    this.doc = doc;
  }

  /** The value at `a.b` (or `a`), marked as read; undefined when absent. */
  get(key: string): unknown {
    const [head, tail] = key.split('.') as [string, string | undefined];
    const v = tail === undefined ? this.doc[head] : (this.doc[head] as Table | undefined)?.[tail];
    if (v !== undefined) this.#used.add(key);
    return v;
  }

  first(...keys: string[]): [key: string, value: unknown] | undefined {
    for (const key of keys) {
      const v = this.get(key);
      if (v !== undefined) return [key, v];
    }
    return undefined;
  }

  bad(key: string, what: string): ConfigError {
    return new ConfigError(`${this.file}: ${key}`, what);
  }

  set(variable: string, value: string | number, key: string): void {
    this.out.env[variable] = String(value);
    this.out.from[variable] = key;
  }

  scalar(key: string, value: unknown): string {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
    throw this.bad(key, `must be a string or a number, got ${JSON.stringify(value)}`);
  }

  /** Copies a scalar key to a variable unchanged (the variable's own check then applies). */
  copy(variable: string, ...keys: string[]): void {
    const found = this.first(...keys);
    if (found !== undefined && found[1] !== '') this.set(variable, this.scalar(found[0], found[1]), found[0]);
  }

  /** `":13891"`, `"0.0.0.0:13891"`, `"[::1]:13891"` → host (empty when only a port) and port. */
  address(key: string, value: unknown): { host: string; port: number } {
    const m = /^(\[[^\]]*\]|[^:]*):(\d+)$/.exec(this.scalar(key, value).trim());
    if (m === null || Number(m[2]) > 65535) throw this.bad(key, `must be an address such as ":13891" or "10.0.0.5:13891", got ${JSON.stringify(value)}`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  }

  /** An array of "host:port" (or GoBelieve's older space-separated string) → a comma list. */
  addrList(variable: string, ...keys: string[]): void {
    const found = this.first(...keys);
    if (found === undefined) return;
    const [key, value] = found;
    const list = Array.isArray(value) ? value.map((x) => this.scalar(key, x)) : this.scalar(key, value).split(/[\s,]+/);
    const addrs = list.map((x) => x.trim()).filter((x) => x !== '');
    if (addrs.length > 0) this.set(variable, addrs.join(','), key);
  }

  /** `[redis] address, password, db` (or the older top-level `redis_*` keys) → a redis:// URL. */
  redis(variable: string): void {
    const found = this.first('redis.address', 'redis.host', 'redis_address');
    if (found === undefined || found[1] === '') {
      for (const k of ['redis.password', 'redis.db', 'redis_password', 'redis_db']) this.get(k);
      return;
    }
    const [key, address] = found;
    const password = this.first('redis.password', 'redis_password')?.[1] ?? '';
    const db = Number(this.first('redis.db', 'redis_db')?.[1] ?? 0);
    if (!Number.isInteger(db) || db < 0) throw this.bad(key.replace(/address|host/, 'db'), 'must be a database number');
    const auth = password === '' ? '' : `:${encodeURIComponent(this.scalar('redis.password', password))}@`;
    this.set(variable, `redis://${auth}${this.scalar(key, address).trim()}/${db}`, key);
  }

  /** Every key of the file that nothing read, as `key` or `table.key`. */
  unread(): string[] {
    const keys: string[] = [];
    for (const [k, v] of Object.entries(this.doc)) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
        for (const sub of Object.keys(v)) if (!this.#used.has(`${k}.${sub}`)) keys.push(`${k}.${sub}`);
      } else if (!this.#used.has(k)) keys.push(k);
    }
    return keys;
  }
}

/** Go's MySQL DSN `user:password@tcp(host:port)/dbname?params` → `mysql://user:password@host:port/dbname`. */
export function mysqlUrlFromDsn(dsn: string): string | undefined {
  const slash = dsn.lastIndexOf('/');
  if (slash < 0) return undefined;
  const db = dsn.slice(slash + 1).split('?')[0]!;
  const head = dsn.slice(0, slash);
  const at = head.lastIndexOf('@');
  const cred = at < 0 ? '' : head.slice(0, at);
  const net = /^(?:tcp)?(?:\((.*)\))?$/.exec(at < 0 ? head : head.slice(at + 1));
  if (net === null || db === '') return undefined;
  const colon = cred.indexOf(':');
  const user = colon < 0 ? cred : cred.slice(0, colon);
  const password = colon < 0 ? '' : cred.slice(colon + 1);
  const userinfo = user === '' ? '' : `${encodeURIComponent(user)}${password === '' ? '' : `:${encodeURIComponent(password)}`}@`;
  return `mysql://${userinfo}${net[1] || '127.0.0.1:3306'}/${encodeURIComponent(db)}`;
}

const STORE_KEYS = ['storage_rpc_addrs', 'group_storage_rpc_addrs', 'storage_rpc_pool', 'group_storage_rpc_pool', 'pending_root'];

function accessServer(r: Reader): void {
  r.copy('IM_PORT', 'port');
  const sslPort = r.get('ssl_port');
  const ws = r.first('ws_address', 'socket_io_address');
  const wss = r.first('wss_address', 'tls_address');
  // An address is honoured whole: a host there binds that listener to it; none (":13891")
  // leaves it to IM_HOST, whose default binds all interfaces as GoBelieve does.
  if (ws !== undefined && ws[1] !== '') {
    const a = r.address(ws[0], ws[1]);
    r.set('IM_WS_PORT', a.port, ws[0]);
    if (a.host !== '') r.set('IM_WS_HOST', a.host, ws[0]);
  }
  const tls = (sslPort !== undefined && Number(sslPort) > 0) || (wss !== undefined && wss[1] !== '');
  if (sslPort !== undefined && Number(sslPort) > 0) r.set('IM_TLS_PORT', r.scalar('ssl_port', sslPort), 'ssl_port');
  if (wss !== undefined && wss[1] !== '') {
    const a = r.address(wss[0], wss[1]);
    r.set('IM_WSS_PORT', a.port, wss[0]);
    if (a.host !== '') r.set('IM_WSS_HOST', a.host, wss[0]);
  }
  // GoBelieve loads the certificate only for a TLS listener; the sample names one without.
  if (tls) {
    r.copy('IM_TLS_CERT', 'cert_file');
    r.copy('IM_TLS_KEY', 'key_file');
  } else {
    r.get('cert_file');
    r.get('key_file');
  }
  const http = r.first('http_listen_address');
  if (http !== undefined && http[1] !== '') {
    const a = r.address(http[0], http[1]);
    r.set('IM_HTTP_HOST', a.host === '' ? '0.0.0.0' : a.host, http[0]);
    r.set('IM_HTTP_PORT', a.port, http[0]);
  }
  r.addrList('IM_ROUTE_ADDRS', 'route_addrs', 'route_pool');
  r.addrList('IM_GROUP_ROUTE_ADDRS', 'group_route_addrs', 'group_route_pool');
  const dsn = r.first('mysqldb_datasource', 'mysqldb_source');
  if (dsn !== undefined && dsn[1] !== '') {
    const url = mysqlUrlFromDsn(r.scalar(dsn[0], dsn[1]));
    if (url === undefined) throw r.bad(dsn[0], 'must be a DSN such as "user:password@tcp(127.0.0.1:3306)/gobelieve"');
    r.set('IM_MYSQL_URL', url, dsn[0]);
  }
  r.redis('IM_REDIS_URL');
  r.copy('IM_KEFU_APPID', 'kefu_appid');
  const auth = r.get('auth_method');
  if (auth !== undefined && auth !== '') r.set('IM_AUTH', r.scalar('auth_method', auth), 'auth_method');
  else if (r.out.env.IM_REDIS_URL !== undefined) {
    r.set('IM_AUTH', 'redis', 'auth_method');
    r.out.from.IM_AUTH = 'no auth_method, so GoBelieve\'s default: redis';
  }
  r.copy('IM_JWT_SECRET', 'jwt_signing_key');
  r.copy('IM_LOG_LEVEL', 'log.level', 'log_level');
  const store = STORE_KEYS.filter((k) => r.get(k) !== undefined);
  if (store.length > 0) r.out.ignored.push(`${store.join(', ')} (the message store is built in: IM_STORE, IM_STORE_URL)`);
}

function router(r: Reader): void {
  const listen = r.first('listen');
  if (listen !== undefined && listen[1] !== '') {
    const a = r.address(listen[0], listen[1]);
    r.set('IMR_HOST', a.host === '' ? '0.0.0.0' : a.host, listen[0]);
    r.set('IMR_PORT', a.port, listen[0]);
  }
  const http = r.first('http_listen_address');
  if (http !== undefined && http[1] !== '') r.set('IMR_HTTP_PORT', r.address(http[0], http[1]).port, http[0]);
  if (r.get('push_disabled') === true) {
    for (const k of ['redis.address', 'redis.host', 'redis.password', 'redis.db']) r.get(k);
  } else r.redis('IMR_REDIS_URL');
  r.copy('IMR_LOG_LEVEL', 'log.level', 'log_level');
}

/** Maps a parsed GoBelieve configuration file to environment variables. */
export function fromGoBelieve(program: Program, file: string, doc: Table): FileSettings {
  const r = new Reader(file, doc);
  if (program === 'im') accessServer(r);
  else router(r);
  const unread = r.unread();
  const logs = unread.filter((k) => k.startsWith('log.') || k.startsWith('log_'));
  const other = unread.filter((k) => !logs.includes(k));
  if (logs.length > 0) r.out.ignored.unshift(`${logs.join(', ')} (logs go to stdout, for the service manager to keep and rotate)`);
  if (other.length > 0) r.out.ignored.unshift(other.join(', '));
  return r.out;
}
