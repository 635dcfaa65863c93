import { unlistenable } from './http/listen.ts';
import { storeFileBusy } from './store/files.ts';

/** A port of the cluster's plan, and which part of it listens there. */
export interface PlannedPort {
  port: number;
  what: string;
}

/**
 * What would keep `npm run cluster` from starting, all at once and in its own terms (the
 * ports move together with CLUSTER_BASE_PORT): each planned port that is taken, and an
 * embedded store file another server holds. Found before any part starts, so that a cluster
 * started beside a running server says why in a line or two at once, instead of its parts
 * failing one by one seconds later.
 */
export async function clusterProblems(ports: PlannedPort[], storeDb: string | undefined): Promise<string[]> {
  const problems: string[] = [];
  const failed = await unlistenable(ports.map((p) => ({ variable: p.what, host: '127.0.0.1', port: p.port })));
  const taken = failed.map((f) => ports[f.index]!);
  if (taken.length > 0) {
    problems.push(`${taken.map((p) => `port ${p.port} (${p.what})`).join(', ')} ${taken.length === 1 ? 'is' : 'are'} in use on 127.0.0.1 `
      + '(a server started with npm start uses 23000, 13891 and 6666): stop what holds '
      + `${taken.length === 1 ? 'it' : 'them'}, or move the whole cluster with CLUSTER_BASE_PORT=P (its ports are P to P+23)`);
  }
  const busy = storeDb === undefined ? undefined : storeFileBusy(storeDb, 2000);
  if (busy !== undefined) {
    problems.push(`the message store ${storeDb} is held by another access server (${busy}; a server started with npm start keeps it): `
      + 'stop it, or give the cluster its own file with IM_STORE_DB=PATH');
  }
  return problems;
}
