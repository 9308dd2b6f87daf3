import { redactUrl } from '../core/index.js';
import { loadConfig } from '../gateway/index.js';
import { UsageError } from './usage-error.js';

/**
 * `clawsession config check FILE`: validates the file together with the
 * environment, as `serve` would, without opening the store. A bad config
 * throws ConfigError naming each bad field (exit code 2).
 */
export async function configCommand(args: string[]): Promise<void> {
  const [subcommand, file, ...extra] = args;
  if (subcommand !== 'check' || file === undefined || extra.length > 0) {
    throw new UsageError('usage: clawsession config check <file>');
  }
  const config = loadConfig({ file, env: process.env });
  const routes = config.routes.map(
    (route) => `${route.prefix} -> ${route.upstream} (${route.auth})`,
  );
  process.stdout.write(
    [
      `config ok: ${file}`,
      `  store: ${redactUrl(config.store)}`,
      `  listen: ${config.host}:${config.port}`,
      `  credentials: ${config.auth.source}`,
      `  routes: ${routes.length === 0 ? 'none' : routes.join(', ')}`,
      '',
    ].join('\n'),
  );
}
