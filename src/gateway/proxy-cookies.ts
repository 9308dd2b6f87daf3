/**
 * Tells whether a cookie name is one of the gateway's own. Names are compared
 * exactly after folding case and dropping a `__Host-` / `__Secure-` prefix:
 * browsers match those prefixes without regard to case, and an upstream that
 * sets `cs_session` or `__SECURE-CS_SESSION` next to `__Host-cs_session` is
 * tossing a look-alike of the session cookie either way.
 */
export type OwnedCookie = (name: string) => boolean;

/** An `OwnedCookie` for the gateway's cookie `names`. */
export function ownedCookies(names: readonly string[]): OwnedCookie {
  const stems = new Set(names.map(cookieStem));
  return (name) => stems.has(cookieStem(name));
}

function cookieStem(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/^__(host|secure)-/, '');
}

/** The Cookie header without the gateway's cookies (all others as sent), or null when none is left. */
export function withoutOwnedCookies(header: string | undefined, owned: OwnedCookie): string | null {
  if (header === undefined) return null;
  const kept = header
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '' && !owned(cookieNameOf(pair)));
  return kept.length === 0 ? null : kept.join('; ');
}

/**
 * The upstream's Set-Cookie values split into those the client may get and
 * the names of those dropped because they would set or clear a gateway cookie.
 */
export function partitionSetCookies(
  values: string | string[],
  owned: OwnedCookie,
): { kept: string[]; dropped: string[] } {
  const kept: string[] = [];
  const dropped: string[] = [];
  for (const value of Array.isArray(values) ? values : [values]) {
    const name = cookieNameOf(value.split(';', 1)[0] as string);
    if (owned(name)) dropped.push(name);
    else kept.push(value);
  }
  return { kept, dropped };
}

/**
 * The name a `name=value` pair ends up with at a server. A nameless cookie
 * (RFC 6265bis §5.6: no `=`, or nothing before it) goes back to servers as its
 * bare value, which they read as `name=value` again: `=__Host-cs_session=x`
 * comes back as the session cookie, so the value's own name is what counts.
 */
function cookieNameOf(pair: string): string {
  const eq = pair.indexOf('=');
  if (eq === -1) return pair.trim();
  const name = pair.slice(0, eq).trim();
  return name === '' ? cookieNameOf(pair.slice(eq + 1)) : name;
}
