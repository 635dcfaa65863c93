/** What a Route needs to know of a connection. */
export interface RouteClient {
  readonly uid: number;
  readonly deviceId: string;
}

export const Removed = {
  NOT_FOUND: 0,
  /** Removed; other connections of the same uid (or room) remain here. */
  REMOVED: 1,
  /** Removed, and it was the last one: the uid (or room) is gone from this Route. */
  EMPTIED: 2,
} as const;
export type Removed = (typeof Removed)[keyof typeof Removed];

/**
 * Optional rule: a user may be in a room through one connection only ('uid'), or one per
 * device ('device'). A newer connection replaces the older one, which addRoomClient returns
 * so that the caller can take it out of the room.
 */
export type RoomRule = 'none' | 'uid' | 'device';

/**
 * One app's connections on this shard: uid → connections and room id → connections.
 * Single-threaded by design (each shard owns its Route). Sets are handed out as they are,
 * never copied, so fanning a message out allocates nothing here; empty sets are deleted.
 */
export class Route<C extends RouteClient> {
  readonly appid: number;
  readonly #users = new Map<number, Set<C>>();
  readonly #rooms = new Map<number, Set<C>>();
  readonly #rule: RoomRule;
  /** room → rule key → connection, only when a room rule is on. */
  readonly #roomKeys = new Map<number, Map<string | number, C>>();
  #clients = 0;
  #roomClients = 0;

  constructor(appid: number, roomRule: RoomRule = 'none') {
    this.appid = appid;
    this.#rule = roomRule;
  }

  /** Adds a connection; true when its uid is new on this Route. */
  addClient(c: C): boolean {
    let set = this.#users.get(c.uid);
    const fresh = set === undefined;
    if (set === undefined) {
      set = new Set();
      this.#users.set(c.uid, set);
    }
    if (!set.has(c)) {
      set.add(c);
      this.#clients++;
    }
    return fresh;
  }

  removeClient(c: C): Removed {
    const set = this.#users.get(c.uid);
    if (set === undefined || !set.delete(c)) return Removed.NOT_FOUND;
    this.#clients--;
    if (set.size > 0) return Removed.REMOVED;
    this.#users.delete(c.uid);
    return Removed.EMPTIED;
  }

  findClientSet(uid: number): ReadonlySet<C> | undefined {
    return this.#users.get(uid);
  }

  getUserIDs(): IterableIterator<number> {
    return this.#users.keys();
  }

  /**
   * Adds a connection to a room. Returns [true when the room is new here, the connection the
   * room rule evicted or undefined].
   */
  addRoomClient(room: number, c: C): [fresh: boolean, evicted: C | undefined] {
    let set = this.#rooms.get(room);
    const fresh = set === undefined;
    if (set === undefined) {
      set = new Set();
      this.#rooms.set(room, set);
    }
    let evicted: C | undefined;
    if (this.#rule !== 'none') {
      let keys = this.#roomKeys.get(room);
      if (keys === undefined) {
        keys = new Map();
        this.#roomKeys.set(room, keys);
      }
      const key = this.#ruleKey(c);
      const old = keys.get(key);
      if (old !== undefined && old !== c && set.delete(old)) {
        evicted = old;
        this.#roomClients--;
      }
      keys.set(key, c);
    }
    if (!set.has(c)) {
      set.add(c);
      this.#roomClients++;
    }
    return [fresh, evicted];
  }

  removeRoomClient(room: number, c: C): Removed {
    const set = this.#rooms.get(room);
    if (set === undefined || !set.delete(c)) return Removed.NOT_FOUND;
    this.#roomClients--;
    if (this.#rule !== 'none') {
      const keys = this.#roomKeys.get(room);
      const key = this.#ruleKey(c);
      if (keys?.get(key) === c) keys.delete(key);
      if (keys?.size === 0) this.#roomKeys.delete(room);
    }
    if (set.size > 0) return Removed.REMOVED;
    this.#rooms.delete(room);
    return Removed.EMPTIED;
  }

  findRoomClientSet(room: number): ReadonlySet<C> | undefined {
    return this.#rooms.get(room);
  }

  /** Connections on this Route. */
  get clientCount(): number {
    return this.#clients;
  }

  /** Distinct uids on this Route. */
  get userCount(): number {
    return this.#users.size;
  }

  get roomCount(): number {
    return this.#rooms.size;
  }

  get roomClientCount(): number {
    return this.#roomClients;
  }

  #ruleKey(c: C): string | number {
    return this.#rule === 'uid' ? c.uid : `${c.uid}\u0000${c.deviceId}`;
  }
}
