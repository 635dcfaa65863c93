/**
 * uvu swallows an error thrown by a before/after hook (the suite just reports 0 passed):
 * wrap hooks in this so that the error is printed where the test runner shows it.
 */
export function loud(hook: () => Promise<void> | void): () => Promise<void> {
  return async () => {
    try {
      await hook();
    } catch (err) {
      console.error('hook failed:', err);
      throw err;
    }
  };
}
