import net from 'node:net';
import type { ServerConfig } from '../config/server.ts';
import { ListenError, listening } from '../http/listen.ts';
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
  const wanted: [string, string, number | undefined, string][] = [
    ...clientListeners(config).map((l): [string, string, number | undefined, string] => [l.variable, l.host, l.port, l.hostVariable]),
    ['IM_HTTP_PORT', config.httpHost, config.httpPort, 'IM_HTTP_HOST'],
    ['IM_DASHBOARD_PORT', config.httpHost, dashboardDefault ? undefined : config.dashboardPort, 'IM_HTTP_HOST'],
  ];
  // Each bound until all are tried, so that two settings naming one port are found too.
  const held: net.Server[] = [];
  for (const [variable, host, port, hostVariable] of wanted) {
    if (port === undefined || port === 0) continue;
    const server = net.createServer();
    server.listen(port, host);
    try {
      await listening(server, variable, host, port, hostVariable);
      held.push(server);
    } catch (err) {
      if (!(err instanceof ListenError)) throw err;
      problems.push(err.message);
    }
  }
  await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  return problems;
}
