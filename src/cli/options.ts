import { type Command, InvalidArgumentError } from 'commander';
import { ClawsessionError, parseDuration } from '../core/index.js';
import { envName, type GatewayConfig, loadConfig } from '../gateway/index.js';

/** What every command over the store takes: where the store is, and how to print. */
export interface StoreOptions {
  store?: string;
  config?: string;
  json?: boolean;
}

/** Adds `--store`, `--config` and `--json` (see StoreOptions). */
export function withStoreOptions(command: Command): Command {
  return command
    .option(
      '--store <url>',
      `store URL, one of the forms in clawsession --help (default: the config's store) [${envName('store')}]`,
    )
    .option('--config <file>', `JSON or YAML config file [${envName('config')}]`)
    .option('--json', 'print one JSON document instead of text');
}

/** The config as serve would read it, with the store of `--store` if given. */
export function configOf(options: StoreOptions): GatewayConfig {
  return loadConfig({
    file: options.config,
    env: process.env,
    overrides: { store: options.store },
  });
}

/** An option's parser: what `parse` refuses with a ClawsessionError is a usage error naming the option. */
export function parsedWith<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      if (error instanceof ClawsessionError) throw new InvalidArgumentError(error.message);
      throw error;
    }
  };
}

/** A whole number from `min` to `max`. */
export function integerFrom(min: number, max: number): (text: string) => number {
  return (text) => {
    const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!(Number.isSafeInteger(value) && value >= min && value <= max))
      throw new InvalidArgumentError(`It must be an integer from ${min} to ${max}.`);
    return value;
  };
}

/** A duration such as `10m` or a number of ms. */
export const duration = parsedWith(parseDuration);

/** A moment as an ISO 8601 time, or a duration back from now (`24h`), in ms since the epoch. */
export function moment(text: string): number {
  const time = Date.parse(text);
  if (/^\d{4}-\d{2}-\d{2}/.test(text) && Number.isFinite(time)) return time;
  try {
    return Date.now() - parseDuration(text);
  } catch {
    throw new InvalidArgumentError('It must be an ISO 8601 time or a duration such as 24h.');
  }
}
