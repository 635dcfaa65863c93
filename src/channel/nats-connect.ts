import { readFileSync } from 'node:fs';
import { credsAuthenticator, errors, nkeyAuthenticator, type Authenticator, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { NatsConfig } from '../config/nats.ts';

/**
 * A hung NATS node is found by its missed PINGs: one a second, the third unanswered ends the
 * connection; dialling a node whose process is stopped connects (its kernel accepts) and
 * then waits for a greeting that never comes: CONNECT_TIMEOUT_MS. Measured with
 * bench:failover: moved within about 5 s (bench/RESULTS.md).
 */
const PING_INTERVAL_MS = 1000;
const MAX_PINGS_OUT = 2;
const CONNECT_TIMEOUT_MS = 2000;
/** Between two dials of the same node; another node of the pool is dialled at once. */
const RECONNECT_WAIT_MS = 250;

/** Why the first connection failed in a way that retrying cannot mend (credentials, TLS), or null. */
export type StartProblem = string | null;

/**
 * How this server connects to NATS: no echo of its own publishes, reconnecting for ever (to
 * any node of the pool, those the cluster announces included), credentials and TLS as
 * configured. `wait`: keep trying the first connection too (no node answered yet).
 */
export function connectOptions(n: NatsConfig, name: string, wait: boolean): NodeConnectionOptions {
  const tls = n.ca !== undefined ? { caFile: n.ca } : n.servers.some((s) => s.startsWith('tls:')) ? {} : undefined;
  return {
    servers: n.servers, name, noEcho: true,
    user: n.user, pass: n.pass, token: n.token, authenticator: n.creds === undefined ? undefined : authenticatorOf(n.creds),
    tls, reconnect: true, maxReconnectAttempts: -1, waitOnFirstConnect: wait,
    reconnectTimeWait: RECONNECT_WAIT_MS, reconnectJitter: 100, reconnectJitterTLS: 200,
    pingInterval: PING_INTERVAL_MS, maxPingOut: MAX_PINGS_OUT, timeout: CONNECT_TIMEOUT_MS,
  };
}

/** A `.creds` file (a user JWT and its seed), or a file holding only an nkey seed. */
function authenticatorOf(file: string): Authenticator {
  const text = readFileSync(file);
  if (text.includes('BEGIN NATS USER JWT')) return credsAuthenticator(text);
  return nkeyAuthenticator(new TextEncoder().encode(text.toString('utf8').trim()));
}

/** The first connection's error, when it is one that no retry mends; null otherwise. */
export function startProblem(err: unknown): StartProblem {
  const e = err as Error;
  if (e instanceof errors.AuthorizationError || e instanceof errors.UserAuthenticationExpiredError) {
    return 'the NATS server refused this server\'s credentials (user and password, token, or IM_NATS_CREDS)';
  }
  const text = `${e.message} ${(e.cause as Error | undefined)?.message ?? ''}`;
  if (/certificate|self.signed|SSL|TLS|handshake/i.test(text)) return `TLS with the NATS server failed: ${text.trim()}`;
  return null;
}
