/**
 * Writes the README's tables of variables from src/config/variables.ts, between the markers
 * `<!-- variables:im … -->` and `<!-- /variables:im -->` (and the same for imr).
 * test/config/variables.test.ts fails when the README was not brought up to date.
 * Run: node scripts/docs.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { readmeWithTables } from '../src/config/readme.ts';

const file = new URL('../README.md', import.meta.url);
const before = readFileSync(file, 'utf8');
const after = readmeWithTables(before);
if (after !== before) writeFileSync(file, after);
process.stderr.write(after === before ? 'README.md: tables up to date\n' : 'README.md: tables written\n');
