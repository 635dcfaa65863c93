import net from 'node:net';
import type { ServerConfig } from '../config/server.ts';
import type { TransportKind } from '../protocol/index.ts';
import type { ShardPool } from './shard-pool.ts';

import { listening } from '../http/listen.ts';

const VARIABLE: Record<TransportKind, string> = { tcp: 'IM_PORT', ws: 'IM_WS_PORT', tls: 'IM_TLS_PORT', wss: 'IM_WSS_PORT' };

/** Each client listener: what binds it (port, host) and the variables that name them. */
export function clientListeners(config: ServerConfig): { kind: TransportKind; variable: string; port: number | undefined; host: string; hostVariable: string }[] {
  return [
    { kind: 'tcp', variable: VARIABLE.tcp, port: config.port, host: config.host, hostVariable: 'IM_HOST' },
    { kind: 'ws', variable: VARIABLE.ws, port: config.wsPort, host: config.wsHost, hostVariable: config.wsHost === config.host ? 'IM_HOST' : 'IM_WS_HOST' },
    { kind: 'tls', variable: VARIABLE.tls, port: config.tlsPort, host: config.host, hostVariable: 'IM_HOST' },
    { kind: 'wss', variable: VARIABLE.wss, port: config.wssPort, host: config.wssHost, hostVariable: config.wssHost === config.host ? 'IM_HOST' : 'IM_WSS_HOST' },
  ];
}

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
    const ports: Partial<Record<TransportKind, number>> = {};
    for (const { kind, variable, port, host, hostVariable } of clientListeners(config)) {
      if (port === undefined) continue;
      const server = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.#pool.assign(socket, kind));
      server.listen(port, host);
      await listening(server, variable, host, port, hostVariable);
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
