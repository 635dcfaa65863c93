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
  const engine = new SqliteStore(config.storeDb, { shared: config.storeShared });
  if (engine.migrated > 0) log?.info({ messages: engine.migrated, file: config.storeDb }, 'store migrated: each message\'s body is now kept once');
  return { engine, name: 'sqlite' };
}
