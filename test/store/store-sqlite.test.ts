import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeSuite } from './suite.ts';

const dir = mkdtempSync(join(tmpdir(), 'im-store-sqlite-'));
storeSuite({
  name: 'sqlite',
  env: async () => ({ IM_STORE: 'sqlite', IM_STORE_DB: join(dir, 'messages.db') }),
  stop: async () => rmSync(dir, { recursive: true, force: true }),
});
