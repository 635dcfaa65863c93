import { test } from 'uvu';
import { groupSuite, sqliteFile } from './suite.ts';

const file = sqliteFile();
groupSuite({ name: 'sqlite', env: async () => ({ IM_GROUP_DB: file }), stop: async () => {} });
test.run();
