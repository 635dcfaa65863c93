import net from 'node:net';
import { once } from 'node:events';

/** A listener that could not start, said in terms of the variable that set it. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.variable = variable;
  }
}

/** Resolves once `server` listens; a busy port or a bad address becomes a ListenError naming `variable`. */
export async function listening(server: net.Server, variable: string, host: string, port: number, hostVariable = 'the host'): Promise<void> {
  try {
    await once(server, 'listening');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? `port ${port} is already in use on ${host}`
      : code === 'EACCES' ? `no permission to listen on port ${port}`
      : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? `cannot listen on ${host} (${hostVariable}): no such local address`
      : `cannot listen on ${host}:${port}: ${(err as Error).message}`;
    throw new ListenError(variable, why);
  }
}

/** A listener a process means to open, and the variables that set its port and host. */
export interface WantedListener {
  variable: string;
  host: string;
  /** Undefined or 0: chosen by the system, never busy. */
  port: number | undefined;
  hostVariable?: string;
}

/**
 * Those of `wanted` that could not listen now, each with the ListenError that names its
 * variable. Each is bound until all are tried, so that two naming one port are found too,
 * and then let go: a start-up check, before anything is started.
 */
export async function unlistenable(wanted: readonly WantedListener[]): Promise<{ index: number; error: ListenError }[]> {
  const failed: { index: number; error: ListenError }[] = [];
  const held: net.Server[] = [];
  for (const [index, w] of wanted.entries()) {
    if (w.port === undefined || w.port === 0) continue;
    const server = net.createServer();
    server.listen(w.port, w.host);
    try {
      await listening(server, w.variable, w.host, w.port, w.hostVariable);
      held.push(server);
    } catch (err) {
      if (!(err instanceof ListenError)) throw err;
      failed.push({ index, error: err });
    }
  }
  await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  return failed;
}
