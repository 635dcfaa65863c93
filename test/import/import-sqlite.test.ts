import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureSuite } from './fixture-suite.ts';

fixtureSuite('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'im-import-'));
  return { env: { IM_STORE: 'sqlite', IM_STORE_DB: join(dir, 'messages.db') }, stop: async () => rmSync(dir, { recursive: true, force: true }) };
});
