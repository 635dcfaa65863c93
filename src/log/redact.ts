/**
 * A URL as it may appear in a log line, an error message or a page: its password (and a
 * token in its query) replaced by `***`. Anything that does not parse as a URL is shown as
 * `(set)`, since it may be a secret itself.
 */
export function safeUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '(set)';
  }
  if (u.password !== '') u.password = '***';
  for (const k of [...u.searchParams.keys()]) {
    if (/pass|secret|token|key/i.test(k)) u.searchParams.set(k, '***');
  }
  return u.toString();
}

/** `user:password@` in any text (a DSN, a URL without its scheme) → `user:***@`. */
export function maskCredentials(text: string): string {
  return text.replace(/([\w.%+-]*):[^:@/\s]+@/g, '$1:***@');
}

/** A configuration value as it may be shown: URLs without their passwords, credentials masked. */
export function shownValue(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  return /^[a-z][\w+.-]*:\/\//i.test(v) ? safeUrl(v) : maskCredentials(v);
}
