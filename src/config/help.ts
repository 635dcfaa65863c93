import { readFileSync } from 'node:fs';
import { variablesOf, type Program } from './variables.ts';

/** The package's version, for `--version`. */
export function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** The variables of `program` as columns under their header, each as wide as its widest cell. */
function table(program: Program): string {
  const rows: (readonly [string, string, string])[] = [
    ['variable', 'default', 'meaning'],
    ...variablesOf(program).map((v) => [v.names.join(', '), v.default.replaceAll('`', ''), v.short] as const),
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  const d = Math.max(...rows.map((r) => r[1].length));
  return rows.map(([v, f, m]) => `  ${v.padEnd(w)}  ${f.padEnd(d)}  ${m}`).join('\n');
}

/** `--help` and `--version`: printed, then the process exits 0. False when neither was asked. */
export function answerFlags(argv: string[], program: Program): boolean {
  if (argv.includes('--version') || argv.includes('-v')) {
    process.stdout.write(`${program} ${version()}\n`);
    return true;
  }
  if (!argv.includes('--help') && !argv.includes('-h')) return false;
  const what = program === 'im' ? 'the access server (GoBelieve-compatible)' : 'the router (GoBelieve-compatible)';
  process.stdout.write(`${program} ${version()}: ${what}\nUsage: ${program} [--config FILE | FILE]\n`
    + `Configuration comes from the environment, over GoBelieve's ${program}.cfg (TOML) when one is given, over the defaults;\n`
    + `a bad value stops start-up with exit 2.\n\n`
    + `${table(program)}\n\nMore of each variable: the README, "Configuration".\n`);
  return true;
}
