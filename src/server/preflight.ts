import type { ServerConfig } from '../config/server.ts';
import { unlistenable } from '../http/listen.ts';
import { storeFileBusy } from '../store/files.ts';
import { clientListeners } from './acceptors.ts';

/**
 * What would keep this access server from starting on this host, all of it at once: the
 * embedded store file held by another server, and each port that is taken. An operator who
 * starts a second server beside a first learns every setting it must change in one attempt,
 * not one per attempt. `dashboardDefault`: the dashboard's port was not chosen, so a busy
 * one is no problem (the server takes another; see main.ts).
 */
export async function startupProblems(config: ServerConfig, dashboardDefault: boolean): Promise<string[]> {
  const problems: string[] = [];
  if (config.store === 'sqlite') {
    // A server that shares the file holds its lock for a transaction at a time; one that does not, for good.
    const busy = storeFileBusy(config.storeDb, config.storeShared ? 2000 : 200);
    if (busy !== undefined && !config.storeShared) {
      problems.push(`IM_STORE_DB=${config.storeDb} is in use by another access server (${busy}): stop it, give this server `
        + 'its own IM_STORE_DB, or set IM_STORE_SHARED=1 on every server that shares the file');
    } else if (busy !== undefined) {
      problems.push(`IM_STORE_DB=${config.storeDb} is held by an access server that does not share it (${busy}; one started `
        + 'without IM_STORE_SHARED=1): stop it, or set IM_STORE_SHARED=1 on every server that shares the file');
    }
  }
  const failed = await unlistenable([
    ...clientListeners(config),
    { variable: 'IM_HTTP_PORT', host: config.httpHost, port: config.httpPort, hostVariable: 'IM_HTTP_HOST' },
    { variable: 'IM_DASHBOARD_PORT', host: config.httpHost, port: dashboardDefault ? undefined : config.dashboardPort, hostVariable: 'IM_HTTP_HOST' },
  ]);
  return [...problems, ...failed.map((f) => f.error.message)];
}
