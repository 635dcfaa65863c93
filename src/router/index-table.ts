/**
 * The router's view of every access-server link: per link, appid → { uid → online, rooms },
 * and the reverse index (appid, uid) → links and (appid, room) → links, so that a publish
 * costs O(links that subscribed), not O(links).
 */
interface AppSubs {
  users: Map<number, boolean>;
  rooms: Set<number>;
}

export class RouterIndex<L> {
  readonly #byLink = new Map<L, Map<number, AppSubs>>();
  readonly #users = new Map<number, Map<number, Map<L, boolean>>>();
  readonly #rooms = new Map<number, Map<number, Set<L>>>();
  #userSubs = 0;
  #roomSubs = 0;

  addLink(link: L): void {
    if (!this.#byLink.has(link)) this.#byLink.set(link, new Map());
  }

  links(): IterableIterator<L> {
    return this.#byLink.keys();
  }

  get linkCount(): number {
    return this.#byLink.size;
  }

  /** (link, appid, uid) subscriptions across all links. */
  get userSubscriptions(): number {
    return this.#userSubs;
  }

  get roomSubscriptions(): number {
    return this.#roomSubs;
  }

  /** Whether the link holds this user, or this room. */
  has(link: L, appid: number, id: number, room: boolean): boolean {
    const app = this.#byLink.get(link)?.get(appid);
    return app !== undefined && (room ? app.rooms.has(id) : app.users.has(id));
  }

  /** Users and rooms one link holds. */
  linkSubscriptions(link: L): number {
    let n = 0;
    for (const a of this.#byLink.get(link)?.values() ?? []) n += a.users.size + a.rooms.size;
    return n;
  }

  subscribe(link: L, appid: number, uid: number, online: boolean): void {
    const app = this.#app(link, appid);
    if (!app.users.has(uid)) this.#userSubs++;
    app.users.set(uid, online);
    let byUid = this.#users.get(appid);
    if (byUid === undefined) this.#users.set(appid, (byUid = new Map()));
    let links = byUid.get(uid);
    if (links === undefined) byUid.set(uid, (links = new Map()));
    links.set(link, online);
  }

  unsubscribe(link: L, appid: number, uid: number): void {
    const app = this.#byLink.get(link)?.get(appid);
    if (app === undefined || !app.users.delete(uid)) return;
    this.#userSubs--;
    this.#dropUser(link, appid, uid);
  }

  subscribeRoom(link: L, appid: number, room: number): void {
    const app = this.#app(link, appid);
    if (app.rooms.has(room)) return;
    app.rooms.add(room);
    this.#roomSubs++;
    let byRoom = this.#rooms.get(appid);
    if (byRoom === undefined) this.#rooms.set(appid, (byRoom = new Map()));
    let links = byRoom.get(room);
    if (links === undefined) byRoom.set(room, (links = new Set()));
    links.add(link);
  }

  unsubscribeRoom(link: L, appid: number, room: number): void {
    const app = this.#byLink.get(link)?.get(appid);
    if (app === undefined || !app.rooms.delete(room)) return;
    this.#roomSubs--;
    this.#dropRoom(link, appid, room);
  }

  /** Forgets a link and everything it subscribed. */
  removeLink(link: L): void {
    const apps = this.#byLink.get(link);
    if (apps === undefined) return;
    this.#byLink.delete(link);
    for (const [appid, app] of apps) {
      for (const uid of app.users.keys()) this.#dropUser(link, appid, uid);
      for (const room of app.rooms) this.#dropRoom(link, appid, room);
      this.#userSubs -= app.users.size;
      this.#roomSubs -= app.rooms.size;
    }
  }

  /** link → online flag, for the links that subscribed (appid, uid). */
  userLinks(appid: number, uid: number): ReadonlyMap<L, boolean> | undefined {
    return this.#users.get(appid)?.get(uid);
  }

  roomLinks(appid: number, room: number): ReadonlySet<L> | undefined {
    return this.#rooms.get(appid)?.get(room);
  }

  /** Online somewhere: some link subscribed the user with online = 1. */
  isOnline(appid: number, uid: number): boolean {
    const links = this.#users.get(appid)?.get(uid);
    if (links === undefined) return false;
    for (const online of links.values()) if (online) return true;
    return false;
  }

  /** appid → every uid some link subscribed, ascending. */
  /** appid → the uids subscribed by any link (live maps: read them before yielding). */
  usersByApp(): IterableIterator<[number, Map<number, Map<L, boolean>>]> {
    return this.#users.entries();
  }

  allUsers(): { appid: number; users: number[] }[] {
    return [...this.#users].map(([appid, byUid]) => ({ appid, users: [...byUid.keys()].sort((a, b) => a - b) }));
  }

  /** One link's subscriptions: appid → [[uid, online], …] and rooms, sorted. */
  linkView(link: L): { appid: number; users: [number, boolean][]; rooms: number[] }[] {
    const apps = this.#byLink.get(link);
    if (apps === undefined) return [];
    return [...apps]
      .filter(([, a]) => a.users.size > 0 || a.rooms.size > 0)
      .map(([appid, a]) => ({
        appid,
        users: [...a.users].sort((x, y) => x[0] - y[0]),
        rooms: [...a.rooms].sort((x, y) => x - y),
      }));
  }

  #app(link: L, appid: number): AppSubs {
    let apps = this.#byLink.get(link);
    if (apps === undefined) this.#byLink.set(link, (apps = new Map()));
    let app = apps.get(appid);
    if (app === undefined) apps.set(appid, (app = { users: new Map(), rooms: new Set() }));
    return app;
  }

  #dropUser(link: L, appid: number, uid: number): void {
    dropFrom(this.#users, appid, uid, (links) => links.delete(link));
  }

  #dropRoom(link: L, appid: number, room: number): void {
    dropFrom(this.#rooms, appid, room, (links) => links.delete(link));
  }
}

/** Removes a link from appid → id → links, deleting entries left empty. */
function dropFrom<V extends { size: number }>(index: Map<number, Map<number, V>>, appid: number, id: number, remove: (links: V) => void): void {
  const byId = index.get(appid);
  const links = byId?.get(id);
  if (byId === undefined || links === undefined) return;
  remove(links);
  if (links.size === 0) byId.delete(id);
  if (byId.size === 0) index.delete(appid);
}
