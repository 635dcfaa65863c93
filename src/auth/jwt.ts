import { SignJWT, jwtVerify, errors } from 'jose';
import { AuthError, AuthErrorCode, type Authenticator, type Identity } from './auth.ts';

const ALGORITHMS = ['HS256', 'HS384', 'HS512'];

function claimInt(payload: Record<string, unknown>, name: string): number {
  const v = payload[name];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new AuthError(AuthErrorCode.INVALID, `claim ${name} must be an integer`);
  return v;
}

/** HMAC-signed JWTs (HS256/384/512) carrying integer claims `appid` and `uid`. */
export class JwtAuthenticator implements Authenticator {
  readonly #key: Uint8Array;
  constructor(secret: string) {
    this.#key = new TextEncoder().encode(secret);
  }

  async authenticate(token: string): Promise<Identity> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.#key, { algorithms: ALGORITHMS }));
    } catch (err) {
      const why = err instanceof errors.JOSEError ? err.code : 'malformed';
      throw new AuthError(AuthErrorCode.INVALID, `token rejected: ${why}`, { cause: err });
    }
    return { appid: claimInt(payload, 'appid'), uid: claimInt(payload, 'uid') };
  }

  async setUnread(): Promise<void> {}
  async close(): Promise<void> {}
}

/** Issues a token for (appid, uid), as `npm run token` does. */
export async function signToken(secret: string, appid: number, uid: number, expiresIn = '30d'): Promise<string> {
  return new SignJWT({ appid, uid })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}
