import { markdownTable, type Program } from './variables.ts';

/** `readme` with each program's table of variables rewritten between its markers. */
export function readmeWithTables(readme: string): string {
  let out = readme;
  for (const program of ['im', 'imr'] as Program[]) {
    const open = new RegExp(`(<!-- variables:${program}\\b[^>]*-->\\n)[\\s\\S]*?(<!-- /variables:${program} -->)`);
    if (!open.test(out)) throw new Error(`README.md has no <!-- variables:${program} --> markers`);
    out = out.replace(open, (_m, a: string, b: string) => `${a}${markdownTable(program)}\n${b}`);
  }
  return out;
}
