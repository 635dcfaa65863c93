import type { ServerConfig } from '../config/server.ts';
import type { Logger } from '../log/logger.ts';
import { SqliteStore } from './sqlite.ts';
import type { StoreEngine } from './types.ts';

/** The engine IM_STORE names; PostgreSQL is loaded only when asked for. */
export async function createEngine(config: ServerConfig, log?: Logger): Promise<{ engine: StoreEngine; name: string }> {
  if (config.store === 'postgres') {
    const { PostgresStore } = await import('./postgres.ts');
    return { engine: await PostgresStore.open(config.storeUrl!, log, config.storePgLanes), name: 'postgres' };
  }
  return { engine: new SqliteStore(config.storeDb, { shared: config.storeShared }), name: 'sqlite' };
}
