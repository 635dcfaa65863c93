import type { ServerConfig } from '../config/server.ts';
import { natsLabel } from '../config/nats.ts';
import type { GroupService } from '../groups/service.ts';
import type { Logger } from '../log/logger.ts';
import type { PoolQueries } from './pool-queries.ts';

/** A service the server needs: which it is, the variable that names it, and whether it answers. */
interface Dependency {
  name: string;
  variable: string;
  /** Already warned about by its own code (Redis): listed in the ready line, not warned again. */
  quiet?: boolean;
  up(): Promise<boolean>;
}

const CHECK_MS = 2000;
/** How long start-up gives router links (or NATS) to come up before the ready line calls them down. */
const FIRST_LINK_WAIT_MS = 3000;

function dependencies(config: ServerConfig, pool: PoolQueries, groups: GroupService): Dependency[] {
  const deps: Dependency[] = [];
  if (config.store === 'postgres') {
    deps.push({ name: 'the message store (PostgreSQL)', variable: 'IM_STORE_URL', up: () => pool.storeUp(CHECK_MS) });
  }
  for (const a of config.routeAddrs) {
    const label = `${a.host}:${a.port}`;
    deps.push({
      name: `the router at ${label}`, variable: 'IM_ROUTE_ADDRS',
      up: async () => (await pool.channelStats())?.links.find((l) => l.router === label)?.state === 'up',
    });
  }
  if (config.nats !== undefined) {
    deps.push({
      name: `NATS (${natsLabel(config.nats)})`, variable: 'IM_NATS_URL',
      up: async () => (await pool.channelStats())?.links.find((l) => l.router === 'nats')?.state === 'up',
    });
  }
  if (config.mysqlUrl !== undefined) {
    deps.push({ name: 'the group source (MySQL)', variable: 'IM_MYSQL_URL', up: async () => (await groups.health(CHECK_MS)).groups });
  }
  if (config.redisUrl !== undefined) {
    deps.push({ name: 'Redis', variable: 'IM_REDIS_URL', quiet: true, up: async () => (await groups.health(CHECK_MS)).redis !== false });
  }
  return deps;
}

/**
 * The services this server depends on, checked at start-up (the ready line lists those that
 * are down) and then every `everyMs`: a warning naming each one that is down and its
 * variable, once per check while it stays down, and a line when it answers again. Without
 * it, a server whose PostgreSQL or router is unreachable looks ready and fails every IM in
 * silence.
 */
export class DependencyWatch {
  readonly #deps: Dependency[];
  readonly #log: Logger;
  readonly #down = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(config: ServerConfig, pool: PoolQueries, groups: GroupService, log: Logger) {
    this.#deps = dependencies(config, pool, groups);
    this.#log = log;
  }

  /** Checks each once (giving router links a moment to connect); resolves the names of those down, with their variables. */
  async first(): Promise<string[]> {
    const end = performance.now() + FIRST_LINK_WAIT_MS;
    let down = await this.#check();
    while (down.some((d) => d.variable === 'IM_ROUTE_ADDRS' || d.variable === 'IM_NATS_URL') && performance.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      down = await this.#check(true);
    }
    this.#report(down);
    return down.map((d) => `${d.name} (${d.variable})`);
  }

  start(everyMs: number): void {
    this.#timer = setInterval(() => void this.#check().then((down) => this.#report(down)), everyMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #check(silent = false): Promise<Dependency[]> {
    const states = await Promise.all(this.#deps.map((d) => d.up().catch(() => false)));
    const down: Dependency[] = [];
    this.#deps.forEach((d, i) => {
      if (!states[i]) down.push(d);
      else if (!silent && this.#down.delete(d.name)) this.#log.info({ dependency: d.name, variable: d.variable }, `${d.name} answers again`);
    });
    return down;
  }

  #report(down: Dependency[]): void {
    for (const d of down) {
      this.#down.add(d.name);
      if (!d.quiet) this.#log.warn({ dependency: d.name, variable: d.variable }, `${d.name} cannot be reached (${d.variable}): what needs it fails until it can`);
    }
  }
}
