/**
 * Reading environment variables into typed values. Every variable is read in one place
 * (the config modules), validated, and a value that does not parse stops start-up with a
 * ConfigError naming the variable.
 */
import { maskCredentials } from '../log/redact.ts';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'ERR_CONFIG';
  readonly variable: string;
  /** What is wrong, without the variable's name. */
  readonly detail: string;
  constructor(variable: string, detail: string) {
    super(`${variable}: ${detail}`);
    this.variable = variable;
    this.detail = detail;
  }
}

export type Env = Record<string, string | undefined>;

function raw(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function intVar(env: Env, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = raw(env, name);
  if (v === undefined) return fallback;
  if (!/^-?\d+$/.test(v)) throw new ConfigError(name, `must be an integer, got "${v}"`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${v}`);
  return n;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1000, kb: 1000, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3 };

/** A size in bytes: `8388608`, `8MiB`, `8 MB`, `512KiB` (case-insensitive). */
export function bytesVar(env: Env, name: string, fallback: number, min = 0): number {
  const v = raw(env, name);
  if (v === undefined) return fallback;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(v);
  const unit = m === null ? undefined : UNITS[m[2]!.toLowerCase()];
  if (m === null || unit === undefined) throw new ConfigError(name, `must be a size in bytes such as 8388608 or 8MiB, got "${v}"`);
  const n = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n) || n < min) throw new ConfigError(name, `must be at least ${min} bytes, got ${v}`);
  return n;
}

export function portVar(env: Env, name: string, fallback: number): number {
  return intVar(env, name, fallback, 0, 65535);
}

export function strVar(env: Env, name: string, fallback: string): string;
export function strVar(env: Env, name: string, fallback?: undefined): string | undefined;
export function strVar(env: Env, name: string, fallback?: string): string | undefined {
  return raw(env, name) ?? fallback;
}

export function enumVar<const T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const v = raw(env, name);
  if (v === undefined) return fallback;
  // People write INFO or Json: the case is not the point.
  const found = values.find((x) => x.toLowerCase() === v.toLowerCase());
  if (found === undefined) throw new ConfigError(name, `must be one of ${values.join(', ')}, got "${v}"`);
  return found;
}

export interface HostPort {
  host: string;
  port: number;
}

/** Comma-separated host:port list; empty means none. */
export function addrListVar(env: Env, name: string): HostPort[] {
  const v = raw(env, name);
  if (v === undefined) return [];
  return v.split(',').map((part) => {
    const m = /^\s*(\[[^\]]+\]|[^:\s]+):(\d+)\s*$/.exec(part);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535) throw new ConfigError(name, `"${part.trim()}" is not host:port`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });
}

export function urlVar(env: Env, name: string, protocols: readonly string[]): string | undefined {
  const v = raw(env, name);
  if (v === undefined) return undefined;
  // The value may hold a password: messages show it masked.
  const suggestion = `${protocols[0]}//${maskCredentials(v)}`;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(name, `"${maskCredentials(v)}" is not a URL; did you mean ${suggestion}?`);
  }
  if (!protocols.includes(u.protocol)) {
    // `127.0.0.1:6379` parses as a URL whose scheme is "127.0.0.1:".
    const hostPort = /^[\w.-]+:\d+$/.test(v) || u.host === '';
    throw new ConfigError(name, hostPort ? `"${maskCredentials(v)}" has no scheme; did you mean ${suggestion}?` : `must use ${protocols.join(' or ')}, got ${u.protocol}`);
  }
  return v;
}

/** Renders a config for the start-up banner, hiding secrets. */
export function describe(config: object, secret: readonly string[] = []): string {
  return Object.entries(config)
    .map(([k, v]) => `  ${k} = ${secret.includes(k) && v !== undefined ? '(set)' : JSON.stringify(v)}`)
    .join('\n');
}

/**
 * The variables among `secrets` (name → value) still set to an example's placeholder (the
 * `change-me…` values of deploy/*.env.example): whoever read the example knows them.
 */
export function placeholderSecrets(secrets: Record<string, string | undefined>): string[] {
  return Object.entries(secrets).filter(([, v]) => v !== undefined && /^change-me/i.test(v)).map(([k]) => k);
}
