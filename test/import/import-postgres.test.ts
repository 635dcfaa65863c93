import { startPostgres } from '../helpers/postgres.ts';
import { fixtureSuite } from './fixture-suite.ts';

fixtureSuite('PostgreSQL', async () => {
  const pg = await startPostgres();
  return { env: { IM_STORE: 'postgres', IM_STORE_URL: pg.url }, stop: () => pg.stop() };
});
