import type net from 'node:net';
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
