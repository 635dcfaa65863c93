import { Route, type RouteClient, type RoomRule } from './route.ts';

/** appid → Route, for one shard. */
export class AppRoute<C extends RouteClient> {
  readonly #routes = new Map<number, Route<C>>();
  readonly #roomRule: RoomRule;

  constructor(roomRule: RoomRule = 'none') {
    this.#roomRule = roomRule;
  }

  findOrAddRoute(appid: number): Route<C> {
    let r = this.#routes.get(appid);
    if (r === undefined) {
      r = new Route<C>(appid, this.#roomRule);
      this.#routes.set(appid, r);
    }
    return r;
  }

  findRoute(appid: number): Route<C> | undefined {
    return this.#routes.get(appid);
  }

  addRoute(route: Route<C>): void {
    this.#routes.set(route.appid, route);
  }

  routes(): IterableIterator<Route<C>> {
    return this.#routes.values();
  }

  /** appid → uids connected here. */
  getUsers(): Map<number, number[]> {
    const out = new Map<number, number[]>();
    for (const [appid, r] of this.#routes) {
      const uids = [...r.getUserIDs()];
      if (uids.length > 0) out.set(appid, uids);
    }
    return out;
  }
}
