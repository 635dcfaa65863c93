/**
 * The NATS subjects of one cluster of access servers, each behind the cluster's prefix:
 *   PREFIX.u.APPID.UID    a user's messages: every server holding a connection of the user
 *   PREFIX.r.APPID.ROOM   a room's messages
 *   PREFIX.g.APPID        super-group messages (every server fans them out to its members)
 */
export class NatsSubjects {
  readonly #p: string;

  constructor(prefix: string) {
    this.#p = prefix;
  }

  user(appid: number, uid: number): string {
    return `${this.#p}.u.${appid}.${uid}`;
  }

  room(appid: number, room: number): string {
    return `${this.#p}.r.${appid}.${room}`;
  }

  group(appid: number): string {
    return `${this.#p}.g.${appid}`;
  }

  /** Every app's super-group messages. */
  groups(): string {
    return `${this.#p}.g.>`;
  }
}
