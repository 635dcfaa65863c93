/**
 * Start-up configuration of `im` and `imr`: the environment over an optional GoBelieve
 * configuration file (`--config FILE`, or the file as the only argument as GoBelieve takes it),
 * over the defaults; with where each value came from. Anything wrong stops start-up with one
 * line naming the variable or the file's key, and exit code 2.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { ConfigError, type Env } from './env.ts';
import { fromGoBelieve, type FileSettings, type Program } from './gobelieve.ts';

export interface Loaded<T> {
  config: T;
  /** Each variable set by the environment or the file → where it came from; the rest are defaults. */
  sources: Record<string, string>;
  /** Keys of the file that are not used, for one warning; empty without a file. */
  ignored: string[];
  file: string | undefined;
}

const PREFIX: Record<Program, string> = { im: 'IM_', imr: 'IMR_' };

/** The configuration file named by the arguments, if any; other arguments are refused. */
function configFileArg(argv: string[]): string | undefined {
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    let value: string | undefined;
    if (arg === '--config' || arg === '-c') {
      value = argv[++i];
      if (value === undefined) throw new ConfigError(arg, 'needs a file: --config im.cfg');
    } else if (arg.startsWith('--config=')) value = arg.slice('--config='.length);
    else if (arg.startsWith('-')) throw new ConfigError(arg, 'unknown option (see --help)');
    else value = arg;
    if (file !== undefined) throw new ConfigError(value, `one configuration file at most (already given: ${file})`);
    file = value;
  }
  return file;
}

function readFile(program: Program, file: string): FileSettings {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('--config', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parse(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const line = text.split('\n')[err.line - 1]?.trim() ?? '';
    // GoBelieve's files before TOML wrote values unquoted: say so rather than only "illegal character".
    const hint = /^\w+\s*=\s*[^"'\d\s[{tf]/.test(line) || /^\w+\s*=\s*[\d.]+:\d+/.test(line)
      ? '; the file is TOML: quote string values, e.g. route_addrs=["127.0.0.1:4444"], ws_address=":13891"'
      : '';
    throw new ConfigError(`${file}:${err.line}`, `not valid TOML (${err.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '')}): ${line}${hint}`);
  }
  return fromGoBelieve(program, basename(file), doc);
}

/**
 * Builds a program's configuration from `argv` and `env`. A variable set in the environment
 * overrides the file's value for it; a ConfigError about a value that came from the file names
 * the file's key too.
 */
export function loadConfig<T>(program: Program, argv: string[], env: Env, build: (env: Env) => T): Loaded<T> {
  const file = configFileArg(argv);
  const settings = file === undefined ? undefined : readFile(program, file);
  const merged: Env = { ...settings?.env };
  const sources: Record<string, string> = {};
  const name = file === undefined ? '' : basename(file);
  for (const [k, v] of Object.entries(settings?.from ?? {})) sources[k] = `${name}: ${v}`;
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || v.trim() === '') continue;
    merged[k] = v;
    if (!k.startsWith(PREFIX[program])) continue;
    sources[k] = sources[k] === undefined ? 'environment' : `environment (over ${sources[k]})`;
  }
  try {
    return { config: build(merged), sources, ignored: settings?.ignored ?? [], file };
  } catch (err) {
    if (err instanceof ConfigError && settings?.from[err.variable] !== undefined && sources[err.variable]?.startsWith(name)) {
      throw new ConfigError(`${name}: ${settings.from[err.variable]} (${err.variable})`, err.detail);
    }
    throw err;
  }
}

/** `loadConfig`, or one line on stderr and exit 2. */
export function loadConfigOrExit<T>(program: Program, build: (env: Env) => T): Loaded<T> {
  try {
    return loadConfig(program, process.argv.slice(2), process.env, build);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${program}: ${err.message}\n`);
    process.exit(2);
  }
}
