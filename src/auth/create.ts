import type { ServerConfig } from '../config/server.ts';
import type { Authenticator } from './auth.ts';
import { JwtAuthenticator } from './jwt.ts';
import { RedisAuthenticator } from './redis.ts';

export function createAuthenticator(config: ServerConfig): Authenticator {
  if (config.auth === 'redis') return new RedisAuthenticator(config.redisUrl!);
  if (config.jwtSecret === undefined) throw new Error('IM_JWT_SECRET must be resolved before shards start');
  return new JwtAuthenticator(config.jwtSecret);
}
