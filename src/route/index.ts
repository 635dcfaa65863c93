export * from './route.ts';
export * from './app-route.ts';
