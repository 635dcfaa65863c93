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

  /** Forgets an app whose last connection left, so that a churn of appids cannot grow the map. */
  dropIfEmpty(appid: number): void {
    const r = this.#routes.get(appid);
    if (r !== undefined && r.clientCount === 0 && r.roomCount === 0) this.#routes.delete(appid);
  }

  routes(): IterableIterator<Route<C>> {
    return this.#routes.values();
  }

}
