/**
 * Takes the query parameters `names` out of a store URL: those are
 * clawsession's own (a key prefix, a schema), the rest belong to the driver.
 */
export function splitQuery(
  url: string,
  names: readonly string[],
): { base: string; params: Record<string, string | undefined> } {
  const queryAt = url.indexOf('?');
  if (queryAt === -1) return { base: url, params: {} };
  const search = new URLSearchParams(url.slice(queryAt + 1));
  const params: Record<string, string | undefined> = {};
  for (const name of names) {
    params[name] = search.get(name) ?? undefined;
    search.delete(name);
  }
  const remaining = search.toString();
  return { base: url.slice(0, queryAt) + (remaining ? `?${remaining}` : ''), params };
}
