import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The JWT secret of a server started without IM_JWT_SECRET: generated once and kept in a
 * file only its owner may read (mode 0600), so that tokens outlive a restart and
 * `npm run token` issues tokens the running server accepts. Returns the secret and whether
 * it was made just now.
 */
export function secretFromFile(file: string): { secret: string; created: boolean } {
  try {
    const secret = readFileSync(file, 'utf8').trim();
    if (secret.length >= 32) return { secret, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { secret, created: true };
}

/** Reads the secret file if it exists (for `npm run token`); undefined otherwise. */
export function readSecretFile(file: string): string | undefined {
  try {
    const s = readFileSync(file, 'utf8').trim();
    return s === '' ? undefined : s;
  } catch {
    return undefined;
  }
}
