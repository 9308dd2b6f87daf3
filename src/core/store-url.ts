import { ConfigError } from './errors.js';

/**
 * Takes a store URL's query apart: the parameters in `own` are clawsession's
 * (a key prefix, a schema) and come back in `params`; those in
 * `driverOptions` stay in `base` for the driver. Any other is a ConfigError
 * naming it, so that a misspelt option (`?prefx=`) is refused rather than
 * silently ignored.
 */
export function splitQuery(
  url: string,
  own: readonly string[],
  options: { backend: string; driverOptions?: readonly string[] },
): { base: string; params: Record<string, string | undefined> } {
  const queryAt = url.indexOf('?');
  if (queryAt === -1) return { base: url, params: {} };
  const search = new URLSearchParams(url.slice(queryAt + 1));
  const driverOptions = options.driverOptions ?? [];
  for (const name of new Set(search.keys())) {
    if (!own.includes(name) && !driverOptions.includes(name)) {
      throw new ConfigError(
        `unknown option ${JSON.stringify(name)} in the ${options.backend} store URL: it takes ${[...own, ...driverOptions].join(', ') || 'no options'}`,
      );
    }
  }
  const params: Record<string, string | undefined> = {};
  for (const name of own) {
    params[name] = search.get(name) ?? undefined;
    search.delete(name);
  }
  const remaining = search.toString();
  return { base: url.slice(0, queryAt) + (remaining ? `?${remaining}` : ''), params };
}
