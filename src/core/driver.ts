import { createRequire } from 'node:module';
import { MissingDriverError } from './errors.js';

/**
 * Drivers are optional peer dependencies: a backend loads its own when it is
 * opened, so `import('clawsession')` loads none, and a user of one backend
 * installs only that backend's driver. A missing driver is a
 * MissingDriverError naming the package; any other failure to load it (a
 * broken native build) passes through as it is.
 */
export async function importDriver<T>(
  backend: string,
  packageName: string,
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    throw isMissing(error, packageName) ? new MissingDriverError(backend, packageName) : error;
  }
}

const require = createRequire(import.meta.url);

/**
 * `importDriver` for a constructor that must stay synchronous (an embedded
 * database opened by `new`): the same error, through `require`.
 */
export function requireDriver<T>(backend: string, packageName: string): T {
  try {
    return require(packageName) as T;
  } catch (error) {
    throw isMissing(error, packageName) ? new MissingDriverError(backend, packageName) : error;
  }
}

/** The package itself is missing, not something it imports. */
function isMissing(error: unknown, packageName: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  const message = error instanceof Error ? error.message : '';
  return message.includes(`'${packageName}'`) || message.includes(`"${packageName}"`);
}
