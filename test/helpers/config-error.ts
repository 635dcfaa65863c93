import { ConfigError } from '../../src/config/env.ts';

/** The ConfigError `f` throws (anything else is rethrown; no error at all fails). */
export function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no ConfigError');
}
