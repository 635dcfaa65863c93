import { test } from 'uvu';
import { groupSuite } from './suite.ts';
import { startMariaDb, type MariaDb } from '../helpers/mariadb.ts';

let db: MariaDb | undefined;
groupSuite({
  name: 'mariadb',
  env: async () => {
    db = await startMariaDb();
    return { IM_MYSQL_URL: db.url };
  },
  stop: async () => { await db?.stop(); },
});
test.run();
