import { startPostgres, type Postgres } from '../helpers/postgres.ts';
import { storeSuite } from './suite.ts';

let pg: Postgres | undefined;
storeSuite({
  name: 'postgres',
  env: async () => {
    pg = await startPostgres();
    return { IM_STORE: 'postgres', IM_STORE_URL: pg.url };
  },
  stop: async () => pg?.stop(),
});
