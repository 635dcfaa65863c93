import net from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { Cmd, ProtocolError, codecs, readRouteHeader, type Frame } from '../protocol/index.ts';
import type { RouterConfig } from '../config/router.ts';
import type { Logger } from '../log/logger.ts';
import { RouterIndex } from './index-table.ts';
import { listening } from '../http/listen.ts';
import { Link, type LinkCloseReason } from './link.ts';
import { routerMetrics, type RouterMetrics } from './metrics.ts';
import { pushItems, type PushSink } from '../push/push.ts';
import { RateLimitedLog } from '../log/rate-limited.ts';

const SUBSCRIBE = codecs.SUBSCRIBE.forVersion(0);
const UNSUBSCRIBE = codecs.UNSUBSCRIBE.forVersion(0);
const ROOM = codecs.SUBSCRIBE_ROOM.forVersion(0);
const PUSH = codecs.PUSH.forVersion(0);
const PONG_FRAME = { cmd: Cmd.PONG, version: 0, flag: 0, seq: 0, body: Buffer.alloc(0) };
const LINK_AUTH_TIMEOUT_MS = 10_000;
const backlog = new RateLimitedLog(10_000);

/**
 * The router (imr): links access servers. Each link subscribes users and rooms; a publish
 * goes to the other links that subscribed its receiver (PUBLISH_GROUP: to every other
 * link), never back to its sender. Frames are forwarded with the body exactly as received.
 */
export class Router {
  readonly index = new RouterIndex<Link>();
  readonly metrics: RouterMetrics;
  readonly #config: RouterConfig;
  readonly #log: Logger;
  readonly #push: PushSink;
  readonly #server: net.Server;
  readonly #framesIn = new Float64Array(256);
  readonly #framesOut = new Float64Array(256);
  #nextId = 1;
  readonly #capped = new WeakSet<Link>();
  readonly #secret: Buffer | undefined;

  constructor(config: RouterConfig, log: Logger, push: PushSink) {
    this.#config = config;
    this.#log = log;
    this.#push = push;
    this.#secret = config.secret === undefined ? undefined : Buffer.from(config.secret);
    this.metrics = routerMetrics({ framesIn: this.#framesIn, framesOut: this.#framesOut }, {
      links: () => this.index.linkCount,
      userSubscriptions: () => this.index.userSubscriptions,
      roomSubscriptions: () => this.index.roomSubscriptions,
      push: () => this.#push.stats(),
    });
    this.#server = net.createServer((socket) => this.#accept(socket));
  }

  async listen(): Promise<number> {
    this.#server.listen(this.#config.port, this.#config.host);
    await listening(this.#server, 'IMR_PORT', this.#config.host, this.#config.port, 'IMR_HOST');
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Stops accepting, flushes and closes every link, then the push sink. */
  async close(): Promise<void> {
    const closed = once(this.#server, 'close');
    this.#server.close();
    for (const link of [...this.index.links()]) link.close('shutdown');
    await closed;
    await this.#push.close();
  }

  #accept(socket: net.Socket): void {
    const allow = this.#config.allow;
    const from = socket.remoteAddress ?? '';
    if (allow !== undefined && !allow.check(from.replace(/^::ffff:/, ''), net.isIPv6(from) && !from.startsWith('::ffff:') ? 'ipv6' : 'ipv4')) {
      this.metrics.refusedLinks.inc();
      this.#log.warn({ remote: `${from}:${socket.remotePort}` }, 'link refused: address not in IMR_ALLOW');
      socket.destroy();
      return;
    }
    const link = new Link(this.#nextId++, socket, {
      frame: (l, f) => this.#onFrame(l, f),
      invalid: (l, err) => {
        this.metrics.invalidFrames.inc({ code: err.code });
        this.#log.warn({ link: l.id, remote: l.remote, code: err.code, cmd: err.cmd, err: err.message }, 'invalid frame from link; closing it');
      },
      closed: (l, reason) => this.#onClosed(l, reason),
      backlog: (l) => {
        this.metrics.backlogDrops.inc();
        backlog.warn(this.#log, 'link backlog over IMR_LINK_WRITE_LIMIT: frames for it dropped', { link: l.id, remote: l.remote, dropped: l.overLimit });
      },
    }, this.#config.linkWriteLimit);
    this.index.addLink(link);
    // With a secret, a link that never presents it is not kept either.
    if (this.#secret !== undefined) {
      setTimeout(() => {
        if (!link.authed) link.close('unauthenticated');
      }, LINK_AUTH_TIMEOUT_MS).unref();
    }
    this.#log.info({ link: link.id, remote: link.remote }, 'access server linked');
  }

  #onClosed(link: Link, reason: LinkCloseReason): void {
    this.index.removeLink(link);
    this.metrics.linksClosed.inc({ reason });
    this.#log.info({ link: link.id, remote: link.remote, reason }, 'access server link closed');
  }

  #onFrame(link: Link, f: Frame): void {
    this.#framesIn[f.cmd]!++;
    const body = f.body;
    if (!link.authed) {
      const secret = this.#secret;
      if (secret === undefined) link.authed = true;
      else {
        const ok = f.cmd === Cmd.LINK_AUTH && body.length === secret.length && timingSafeEqual(body, secret);
        if (!ok) {
          this.#log.warn({ link: link.id, remote: link.remote }, 'link closed: it did not open with the router\'s secret (IMR_SECRET)');
          return link.close('unauthenticated');
        }
        link.authed = true;
        return;
      }
    }
    if (f.cmd === Cmd.LINK_AUTH) return; // a secret this router does not ask for
    switch (f.cmd) {
      case Cmd.PING:
        // An access server checking that this router still answers (a quiet link).
        link.forward(PONG_FRAME);
        break;
      case Cmd.PONG:
        break;
      case Cmd.SUBSCRIBE: {
        const m = SUBSCRIBE.decode(body, 0, body.length);
        if (m instanceof ProtocolError) return this.#reject(link, m);
        if (!this.#mayAdd(link, m.appid, m.uid, false)) return;
        this.index.subscribe(link, m.appid, m.uid, m.online !== 0);
        return;
      }
      case Cmd.UNSUBSCRIBE: {
        const m = UNSUBSCRIBE.decode(body, 0, body.length);
        if (m instanceof ProtocolError) return this.#reject(link, m);
        this.index.unsubscribe(link, m.appid, m.uid);
        return;
      }
      case Cmd.SUBSCRIBE_ROOM:
      case Cmd.UNSUBSCRIBE_ROOM: {
        const m = ROOM.decode(body, 0, body.length);
        if (m instanceof ProtocolError) return this.#reject(link, m);
        if (f.cmd === Cmd.SUBSCRIBE_ROOM) {
          if (this.#mayAdd(link, m.appid, m.room_id, true)) this.index.subscribeRoom(link, m.appid, m.room_id);
        }
        else this.index.unsubscribeRoom(link, m.appid, m.room_id);
        return;
      }
      case Cmd.PUBLISH:
      case Cmd.PUBLISH_ROOM:
      case Cmd.PUBLISH_GROUP: {
        // Only the header is read: the frame is forwarded with its body exactly as received.
        const m = readRouteHeader(body);
        if (m instanceof ProtocolError) return this.#reject(link, m);
        if (f.cmd === Cmd.PUBLISH) {
          const links = this.index.userLinks(m.appid, m.receiver);
          if (links !== undefined) for (const to of links.keys()) this.#forward(link, to, f);
        } else if (f.cmd === Cmd.PUBLISH_ROOM) {
          const links = this.index.roomLinks(m.appid, m.receiver);
          if (links !== undefined) for (const to of links) this.#forward(link, to, f);
        } else {
          for (const to of this.index.links()) this.#forward(link, to, f);
        }
        return;
      }
      case Cmd.PUSH: {
        const m = PUSH.decode(body, 0, body.length);
        if (m instanceof ProtocolError) return this.#reject(link, m);
        const offline = m.receivers.filter((uid) => !this.index.isOnline(m.appid, uid));
        const items = pushItems(m.appid, offline, m.message);
        if (items.length > 0) this.#push.push(items);
        return;
      }
    }
  }

  /** A link may hold IMR_LINK_MAX_SUBSCRIPTIONS users and rooms; a new one beyond is refused (warned once per link). */
  #mayAdd(link: Link, appid: number, id: number, room: boolean): boolean {
    if (this.index.has(link, appid, id, room) || this.index.linkSubscriptions(link) < this.#config.linkMaxSubscriptions) return true;
    this.metrics.refusedSubscriptions.inc();
    if (!this.#capped.has(link)) {
      this.#capped.add(link);
      this.#log.warn({ link: link.id, remote: link.remote, limit: this.#config.linkMaxSubscriptions }, 'link holds IMR_LINK_MAX_SUBSCRIPTIONS: refusing more');
    }
    return false;
  }

  #forward(from: Link, to: Link, f: Frame): void {
    if (to === from) return;
    to.forward(f);
    this.#framesOut[f.cmd]!++;
  }

  #reject(link: Link, err: ProtocolError): void {
    link.fail(err);
  }
}
