/** Query keys whose values never reach a log line (compared after decoding, in lower case). */
const SECRET_KEYS: ReadonlySet<string> = new Set(['token']);
const REDACTED = '[redacted]';

/**
 * The request URL as the request log shows it: every query parameter whose key *decodes* to
 * `token` has its value replaced. The router and the query-string parser decode keys (`%74oken`,
 * `tok%65n`, `+` for a space) before auth reads `request.query.token`, so matching the literal
 * text `token=` let an encoded key authenticate and still be logged. The query starts where the
 * router starts it: at the first `?` or `#`.
 */
export function loggedUrl(url: string): string {
  const question = url.indexOf('?', 1);
  const hash = url.indexOf('#', 1);
  const start = question === -1 ? hash : hash === -1 ? question : Math.min(question, hash);
  if (start === -1) return url;
  const pairs = url.slice(start + 1).split('&');
  let changed = false;
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i];
    const equals = pair.indexOf('=');
    const key = equals === -1 ? pair : pair.slice(0, equals);
    if (!SECRET_KEYS.has(decodeKey(key).toLowerCase())) continue;
    pairs[i] = `${key}=${REDACTED}`;
    changed = true;
  }
  return changed ? `${url.slice(0, start + 1)}${pairs.join('&')}` : url;
}

/** What fast-querystring makes of a key: `+` is a space, then %-decoding; an undecodable key stays as sent. */
function decodeKey(key: string): string {
  const spaced = key.includes('+') ? key.replaceAll('+', ' ') : key;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}
