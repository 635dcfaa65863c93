import { AuthStatus, Platform, ProtocolError, ProtocolErrorCode, codecs, type Frame } from '../protocol/index.ts';
import { deviceNumber } from '../protocol/device.ts';
import { AuthError, AuthErrorCode, type Authenticator } from '../auth/auth.ts';
import { RateLimitedLog } from '../log/rate-limited.ts';
import type { Logger } from '../log/logger.ts';
import type { Connection } from './connection.ts';
import type { Presence } from './presence.ts';
import { authStatus } from './replies.ts';
import type { ShardStats } from './stats.ts';

const unavailable = new RateLimitedLog(10_000);

export interface LoginContext {
  readonly auth: Authenticator;
  readonly presence: Presence;
  readonly stats: ShardStats;
  readonly log: Logger;
}

/** AUTH_TOKEN: checks the token, then registers the connection as (appid, uid). */
export async function login(x: LoginContext, c: Connection, f: Frame): Promise<void> {
  if (c.authed || c.authing) return;
  // GoBelieve closes a connection whose AUTH_TOKEN body is 3 bytes or fewer.
  if (f.body.length <= 3) return c.fail(new ProtocolError(ProtocolErrorCode.BODY_TOO_SHORT, `AUTH_TOKEN body of ${f.body.length} bytes`, f.cmd));
  const m = codecs.AUTH_TOKEN.forVersion(f.version).decode(f.body, 0, f.body.length);
  if (m instanceof ProtocolError) return c.fail(m);
  c.authing = true;
  let id;
  try {
    id = await x.auth.authenticate(m.token);
  } catch (err) {
    c.authing = false;
    const why = err instanceof AuthError ? err.code : 'ERR_AUTH_INTERNAL';
    if (why === AuthErrorCode.UNAVAILABLE) {
      x.stats.authUnavailable++;
      unavailable.warn(x.log, 'token store unreachable (IM_REDIS_URL): logins are refused with AUTH_STATUS 1 until it answers');
    } else {
      x.stats.authFailures++;
      if (!(err instanceof AuthError)) x.log.error({ err }, 'authenticator failed');
    }
    x.log.debug({ conn: c.id, remote: c.remote, why }, 'auth failed');
    return c.send(authStatus(AuthStatus.FAILED));
  }
  c.authing = false;
  if (c.dead) return;
  const mobile = m.platform_id === Platform.IOS || m.platform_id === Platform.ANDROID;
  c.appid = id.appid;
  c.uid = id.uid;
  c.deviceId = m.device_id;
  c.platform = m.platform_id;
  c.online = mobile || id.notificationOn !== true;
  c.deviceNo = deviceNumber(m.device_id, m.platform_id);
  if (!x.presence.register(c)) {
    x.stats.authRefusedFull++;
    return c.send(authStatus(AuthStatus.FAILED));
  }
  c.version = f.version;
  c.authed = true;
  x.stats.logins++;
  c.send(authStatus(AuthStatus.OK));
  x.log.debug({ conn: c.id, uid: c.uid, appid: c.appid, platform: c.platform, kind: c.kind }, 'authenticated');
}
