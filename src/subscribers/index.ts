export * from './table.ts';
export * from './transitions.ts';
