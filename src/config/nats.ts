import { existsSync } from 'node:fs';
import { ConfigError, strVar, type Env } from './env.ts';

/** How this access server reaches the NATS cluster that links it to the others. */
export interface NatsConfig {
  /** `nats://host:port` or `tls://host:port`, credentials taken out. */
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  /** IM_NATS_CREDS: a `.creds` file (user JWT and seed) or a file holding an nkey seed. */
  creds?: string;
  /** IM_NATS_CA: the CA file that signs the NATS servers' certificates. */
  ca?: string;
  /** Every subject this server uses starts with it (IM_NATS_PREFIX): clusters may share one NATS. */
  prefix: string;
}

const DEFAULT_PORT = 4222;

/**
 * IM_NATS_URL: `nats://h1:4222,nats://h2:4222`, each optionally `user:pass@` or `token@`
 * (one set of credentials for all: a client presents the same to every node), `tls://` for
 * TLS. Undefined when not set.
 */
export function natsConfig(env: Env): NatsConfig | undefined {
  const v = strVar(env, 'IM_NATS_URL');
  if (v === undefined) return undefined;
  const servers: string[] = [];
  let auth: string | undefined;
  let user: string | undefined;
  let pass: string | undefined;
  let token: string | undefined;
  for (const part of v.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    let u: URL;
    try {
      u = new URL(part.includes('://') ? part : `nats://${part}`);
    } catch {
      throw new ConfigError('IM_NATS_URL', `"${masked(part)}" is not a NATS URL such as nats://127.0.0.1:4222`);
    }
    if (u.protocol !== 'nats:' && u.protocol !== 'tls:') {
      throw new ConfigError('IM_NATS_URL', `"${masked(part)}": the scheme must be nats:// or tls://, got ${u.protocol}//`);
    }
    if (u.hostname === '' || (u.pathname !== '' && u.pathname !== '/')) {
      throw new ConfigError('IM_NATS_URL', `"${masked(part)}" is not a NATS URL such as nats://127.0.0.1:4222`);
    }
    const here = u.username === '' ? '' : `${u.username}:${u.password}`;
    if (here !== '' && auth !== undefined && here !== auth) throw new ConfigError('IM_NATS_URL', 'the servers carry different credentials: a client presents one set to every node');
    if (auth === undefined && here !== '') {
      auth = here;
      if (u.password !== '') {
        user = decodeURIComponent(u.username);
        pass = decodeURIComponent(u.password);
      } else {
        token = decodeURIComponent(u.username);
      }
    }
    servers.push(`${u.protocol}//${u.hostname}:${u.port === '' ? DEFAULT_PORT : u.port}`);
  }
  if (servers.length === 0) throw new ConfigError('IM_NATS_URL', 'names no server');
  const creds = strVar(env, 'IM_NATS_CREDS');
  if (creds !== undefined && !existsSync(creds)) throw new ConfigError('IM_NATS_CREDS', `no such file: ${creds}`);
  if (creds !== undefined && auth !== undefined) throw new ConfigError('IM_NATS_CREDS', 'and credentials in IM_NATS_URL: give one of them');
  const ca = strVar(env, 'IM_NATS_CA');
  if (ca !== undefined && !existsSync(ca)) throw new ConfigError('IM_NATS_CA', `no such file: ${ca}`);
  const prefix = strVar(env, 'IM_NATS_PREFIX', 'im');
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) throw new ConfigError('IM_NATS_PREFIX', `must be subject tokens such as im or prod.im, got "${prefix}"`);
  return { servers, user, pass, token, creds, ca, prefix };
}

/** The servers as logs, reports and pages show them: never a password or a token. */
export function natsLabel(c: NatsConfig): string {
  return c.servers.join(',');
}

/** What the start-up report shows of it. */
export function shownNats(c: NatsConfig): Record<string, unknown> {
  const auth = c.creds !== undefined ? 'creds file' : c.token !== undefined ? 'token' : c.user !== undefined ? `user ${c.user}` : 'none';
  return { servers: c.servers, auth, ca: c.ca, prefix: c.prefix };
}

/** A part of IM_NATS_URL as an error may quote it: whatever stands before @ hidden. */
function masked(part: string): string {
  return part.replace(/\/\/[^@/]*@/, '//***@');
}
