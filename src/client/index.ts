export * from './client.ts';
export type { ConnectOptions, TransportKind } from './transport.ts';
