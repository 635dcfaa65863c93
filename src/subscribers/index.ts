export * from './table.ts';
export * from './transitions.ts';
export * from './ledger.ts';
