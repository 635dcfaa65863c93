/**
 * Applies src/store/pg-driver-fix.ts to the installed PostgreSQL driver; `npm install` and
 * `npm ci` run it through `prepare`. With --check it only says (exit 1) when it is missing.
 * Run: node scripts/patch-postgres.ts [--check]
 */
import { driverFiles, patchFile } from '../src/store/pg-driver-fix.ts';

if (import.meta.url === `file://${process.argv[1]}`) {
  const check = process.argv.includes('--check');
  const states = driverFiles().map((f) => patchFile(f, check));
  if (states.includes('unknown')) {
    process.stderr.write('patch-postgres: the PostgreSQL driver is not a version this fix knows; left as it is\n');
    if (check) process.exit(1);
  } else if (states.includes('applied')) {
    process.stderr.write(`patch-postgres: guarded the PostgreSQL driver (${states.length} builds)\n`);
  }
}
