import { describe, placeholderSecrets } from '../config/env.ts';
import type { Loaded } from '../config/load.ts';
import type { Logger } from './logger.ts';
import { shownValue } from './redact.ts';
import { unknownVariables, type Program } from '../config/variables.ts';

/**
 * The start-up report of a configuration: every value (secrets hidden, URLs without their
 * passwords: logs go to journald and collectors), where each set variable
 * came from, and one warning naming the configuration file's keys that are not used. Pretty
 * mode writes it for a person on stderr; JSON mode makes log records of it.
 */
export function reportConfig(log: Logger, program: string, pretty: boolean, shown: object, loaded: Loaded<unknown>, secrets: readonly string[] = []): void {
  const hidden = Object.fromEntries(Object.entries(shown).map(([k, v]) => [k, secrets.includes(k) && v !== undefined ? '(set)' : shownValue(v)]));
  const sources = Object.entries(loaded.sources).sort(([a], [b]) => a.localeCompare(b));
  if (pretty) {
    const from = sources.length === 0 ? '  (everything is a default)' : `${sources.map(([k, v]) => `  ${k}: ${v}`).join('\n')}\n  (the rest are defaults)`;
    process.stderr.write(`${program} configuration:\n${describe(hidden)}\nset by:\n${from}\n`);
  } else {
    log.info({ config: hidden, sources: Object.fromEntries(sources) }, 'configuration');
  }
  if (loaded.ignored.length > 0) {
    log.warn({ file: loaded.file, ignored: loaded.ignored }, `${loaded.file}: not used by this server: ${loaded.ignored.join('; ')}`);
  }
}

/** One warning for each secret (name → value) still at an example's placeholder. */
export function warnPlaceholderSecrets(log: Logger, secrets: Record<string, string | undefined>): void {
  for (const name of placeholderSecrets(secrets)) {
    log.warn(`${name} is still the example's placeholder: anyone who read the example knows it; set a random value (openssl rand -base64 32)`);
  }
}

/** One warning for each variable with the program's prefix that it does not know (a typo is otherwise silently ignored). */
export function warnUnknownVariables(log: Logger, program: Program, env: Record<string, string | undefined> = process.env): void {
  for (const u of unknownVariables(env, program)) {
    log.warn({ variable: u.name, nearest: u.nearest }, `${u.name} is not a variable of ${program}${u.nearest === undefined ? '' : `: did you mean ${u.nearest}?`} It is ignored`);
  }
}
