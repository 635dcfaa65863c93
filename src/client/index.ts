export * from './client.ts';
export { AckTimeoutError, ClientClosedError, type ClientEvents, type SyncResult, type SyncedMessage } from './events.ts';
export type { ConnectOptions, TransportKind } from './transport.ts';
