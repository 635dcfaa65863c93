import net from 'node:net';
import type { ServerConfig } from '../config/server.ts';
import type { TransportKind } from '../protocol/index.ts';
import type { ShardPool } from './shard-pool.ts';

import { listening } from '../http/listen.ts';

const VARIABLE: Record<TransportKind, string> = { tcp: 'IM_PORT', ws: 'IM_WS_PORT', tls: 'IM_TLS_PORT', wss: 'IM_WSS_PORT' };

/**
 * The client listeners. The main thread never reads a client socket: it accepts with
 * pauseOnConnect and moves the socket, unread, to a shard (TLS handshakes and WebSocket
 * upgrades happen there too).
 */
export class Acceptors {
  readonly servers = new Map<TransportKind, net.Server>();
  readonly #pool: ShardPool;

  constructor(pool: ShardPool) {
    this.#pool = pool;
  }

  async listen(config: ServerConfig): Promise<Partial<Record<TransportKind, number>>> {
    const wanted: [TransportKind, number | undefined][] = [
      ['tcp', config.port], ['ws', config.wsPort], ['tls', config.tlsPort], ['wss', config.wssPort],
    ];
    const ports: Partial<Record<TransportKind, number>> = {};
    for (const [kind, port] of wanted) {
      if (port === undefined) continue;
      const server = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.#pool.assign(socket, kind));
      server.listen(port, config.host);
      await listening(server, VARIABLE[kind], config.host, port, 'IM_HOST');
      this.servers.set(kind, server);
      ports[kind] = (server.address() as net.AddressInfo).port;
    }
    return ports;
  }

  /** Stops accepting; sockets already moved to shards are theirs to close. */
  close(): void {
    for (const s of this.servers.values()) s.close();
  }
}
