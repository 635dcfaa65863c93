/**
 * `npm run -s token -- APPID UID [EXPIRY]`: prints a JWT signed with IM_JWT_SECRET, or with the
 * secret a server started without it keeps in IM_JWT_SECRET_FILE (data/jwt-secret).
 */
import { signToken } from '../auth/jwt.ts';
import { readSecretFile } from '../auth/secret-file.ts';

const [appid, uid, expiry] = process.argv.slice(2);
const secret = process.env.IM_JWT_SECRET || readSecretFile(process.env.IM_JWT_SECRET_FILE || 'data/jwt-secret');
const int = (s: string | undefined) => (s !== undefined && /^-?\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : undefined);
if (secret === undefined || secret === '' || int(appid) === undefined || int(uid) === undefined) {
  process.stderr.write('usage: npm run -s token -- APPID UID [EXPIRY, e.g. 30d]\n'
    + '  (signs with IM_JWT_SECRET, or the secret in IM_JWT_SECRET_FILE, data/jwt-secret by default, that the server made)\n');
  process.exit(2);
}
process.stdout.write(`${await signToken(secret, int(appid)!, int(uid)!, expiry ?? '30d')}\n`);
