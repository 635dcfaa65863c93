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
