/** `npm run token -- APPID UID [EXPIRY]`: prints a JWT for the configured IM_JWT_SECRET. */
import { signToken } from '../auth/jwt.ts';

const [appid, uid, expiry] = process.argv.slice(2);
const secret = process.env.IM_JWT_SECRET;
const int = (s: string | undefined) => (s !== undefined && /^-?\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : undefined);
if (secret === undefined || secret === '' || int(appid) === undefined || int(uid) === undefined) {
  process.stderr.write('usage: IM_JWT_SECRET=… npm run token -- APPID UID [EXPIRY, e.g. 30d]\n');
  process.exit(2);
}
process.stdout.write(`${await signToken(secret, int(appid)!, int(uid)!, expiry ?? '30d')}\n`);
