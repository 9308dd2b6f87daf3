import { Command } from 'commander';
import { DURATION_UNITS, parseDuration, ValidationError } from '../core/index.js';
import { openKeyInvalidationBus, presentApiKey } from '../gateway/index.js';
import {
  API_KEY_SCOPES,
  type ApiKeyInfo,
  ApiKeyNotFoundError,
  ApiKeys,
  type IssuedApiKey,
  type Scope,
} from '../keys/index.js';
import { openRecordStore } from '../stores/index.js';
import type { CliIo } from './io.js';
import { configOf, duration, parsedWith, type StoreOptions, withStoreOptions } from './options.js';
import { fields, printResult, table, when } from './output.js';

const ABOUT_INVALIDATION = `
Running gateways drop a rotated or revoked key at once over a Redis or
PostgreSQL store; over others (or a Redis Cluster), within their key cache ttl
(keyCacheTtl, 5 s).
`;

/** `clawsession keys …`: issues, lists, shows, rotates and revokes API keys in the store. */
export function keysCommand(io: CliIo): Command {
  const keys = new Command('keys')
    .description('API keys for internal services: create, list, show, rotate, revoke')
    .addHelpText('after', ABOUT_INVALIDATION);

  keys.addCommand(
    withStoreOptions(
      new Command('create')
        .description('Issue a key; its secret is shown this once')
        .requiredOption('--owner <service>', 'the service the key is for')
        .requiredOption(
          '--scope <scope>',
          `a scope it grants, repeated or comma-separated: ${API_KEY_SCOPES.join(', ')}`,
          (value: string, previous: string[] = []) => [...previous, ...value.split(',')],
        )
        .option(
          '--expires <when>',
          'an ISO date-time such as 2027-01-01T00:00:00Z, or a duration from now such as 90d (default: never)',
          parsedWith(expiryOf),
        )
        .option(
          '--rate-limit <limit/window>',
          'verifications allowed per window, such as 100/1m (default: no per-key limit)',
          parsedWith(rateLimitOf),
        )
        .option('--description <text>', 'what the key is for')
        .action(async (options: CreateOptions) => {
          const issued = await withApiKeys(options, (apiKeys) =>
            apiKeys.create({
              owner: options.owner,
              scopes: options.scope as Scope[],
              expiresAt: options.expires ?? null,
              rateLimit: options.rateLimit ?? null,
              description: options.description ?? null,
            }),
          );
          const { info } = issued;
          const expiry =
            info.expiresAt === null ? 'never expires' : `expires ${when(info.expiresAt)}`;
          printResult(
            io,
            options.json,
            issuedJson(issued),
            `Created API key ${info.prefix} for ${info.owner} (${info.scopes.join(', ')}); it ${expiry}.\n${shownOnce(issued)}`,
          );
        }),
    ),
  );

  keys.addCommand(
    withStoreOptions(
      new Command('list')
        .description('List the live keys (never their secrets)')
        .action(async (options: StoreOptions) => {
          const infos = await withApiKeys(options, (apiKeys) => apiKeys.list());
          printResult(io, options.json, { keys: infos.map(presentApiKey) }, keyTable(infos));
        }),
    ),
  );

  keys.addCommand(
    withStoreOptions(
      new Command('show')
        .description("Show one key's owner, scopes, limits and usage (never its secret)")
        .argument('<prefix>', 'the 12 characters after cs_live_')
        .action(async (prefix: string, options: StoreOptions) => {
          const info = await withApiKeys(options, (apiKeys) => apiKeys.get(prefix));
          if (!info) throw new ApiKeyNotFoundError(prefix);
          printResult(io, options.json, { info: presentApiKey(info) }, keyFields(info));
        }),
    ),
  );

  keys.addCommand(
    withStoreOptions(
      new Command('rotate')
        .description('Issue a new secret for the key, keeping its prefix; shown this once')
        .argument('<prefix>', 'the 12 characters after cs_live_')
        .option(
          '--grace <duration>',
          'how long the old secret keeps working, such as 10m (default 0: refused from now on)',
          duration,
        )
        .action(async (prefix: string, options: StoreOptions & { grace?: number }) => {
          const issued = await withApiKeys(options, (apiKeys) =>
            apiKeys.rotate(prefix, { grace: options.grace ?? 0 }),
          );
          const until = issued.info.previousValidUntil;
          printResult(
            io,
            options.json,
            issuedJson(issued),
            `Rotated API key ${issued.info.prefix}; the old secret ${until === null ? 'is refused from now on' : `stays valid until ${when(until)}`}.\n${shownOnce(issued)}`,
          );
        }),
    ),
  );

  keys.addCommand(
    withStoreOptions(
      new Command('revoke')
        .description('Delete the key; every gateway refuses it from then on')
        .argument('<prefix>', 'the 12 characters after cs_live_')
        .action(async (prefix: string, options: StoreOptions) => {
          if (!(await withApiKeys(options, (apiKeys) => apiKeys.revoke(prefix))))
            throw new ApiKeyNotFoundError(prefix);
          printResult(io, options.json, { revoked: prefix }, `Revoked API key ${prefix}.\n`);
        }),
    ),
  );
  return keys;
}

interface CreateOptions extends StoreOptions {
  owner: string;
  scope: string[];
  expires?: number;
  rateLimit?: { limit: number; windowMs: number };
  description?: string;
}

/** Runs `use` over the keys in the configured store, with the store's bus so that running gateways hear of changes. */
async function withApiKeys<T>(
  options: StoreOptions,
  use: (apiKeys: ApiKeys) => Promise<T>,
): Promise<T> {
  const config = configOf(options);
  const records = await openRecordStore(config.store);
  // Running gateways hear of a rotation or revoke made here at once, where the store carries a bus.
  const bus = await openKeyInvalidationBus(config.store).catch(async (error: unknown) => {
    await records.close();
    throw error;
  });
  const apiKeys = new ApiKeys({ records, invalidationBus: bus ?? undefined });
  try {
    return await use(apiKeys);
  } finally {
    await apiKeys.close();
    await bus?.close();
    await records.close();
  }
}

function shownOnce({ key }: IssuedApiKey): string {
  return `The key is shown only this once; store it now:\n${key}\n`;
}

function issuedJson({ key, info }: IssuedApiKey) {
  return { key, info: presentApiKey(info) };
}

/** An ISO 8601 date-time, or a duration from now such as `90d`. */
function expiryOf(text: string): number {
  if (/^\d+(ms|s|m|h|d)?$/.test(text.trim())) return Date.now() + parseDuration(text);
  const at = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at))
    throw new ValidationError(
      'It takes an ISO date-time such as 2027-01-01T00:00:00Z or a duration such as 90d.',
    );
  return at;
}

/** `100/1m`: at most 100 verifications per minute. */
function rateLimitOf(text: string): { limit: number; windowMs: number } {
  const match = /^(\d+)\/(.+)$/.exec(text.trim());
  if (!match) throw new ValidationError('It takes <limit>/<window> such as 100/1m.');
  return { limit: Number(match[1]), windowMs: parseDuration(match[2] as string) };
}

/** `90000` → `90s`: in the largest unit that divides it. */
function durationText(ms: number): string {
  const units = Object.entries(DURATION_UNITS).reverse();
  const [unit, size] = units.find(([, size]) => ms % size === 0) ?? ['ms', 1];
  return `${ms / size}${unit}`;
}

function keyTable(infos: ApiKeyInfo[]): string {
  return table(
    ['PREFIX', 'OWNER', 'SCOPES', 'EXPIRES', 'LAST USED', 'USES'],
    infos.map((info) => [
      info.prefix,
      info.owner,
      info.scopes.join(','),
      when(info.expiresAt),
      when(info.lastUsedAt),
      String(info.uses),
    ]),
    'No API keys.',
  );
}

function keyFields(info: ApiKeyInfo): string {
  const { rateLimit } = info;
  return fields([
    ['prefix', info.prefix],
    ['owner', info.owner],
    ['scopes', info.scopes.join(', ')],
    ['description', info.description ?? '-'],
    ['created', when(info.createdAt)],
    ['expires', when(info.expiresAt)],
    [
      'rate limit',
      rateLimit ? `${rateLimit.limit} per ${durationText(rateLimit.windowMs)}` : 'none',
    ],
    ['rotated', when(info.rotatedAt)],
    ['old secret until', info.previousValidUntil === null ? '-' : when(info.previousValidUntil)],
    ['last used', when(info.lastUsedAt)],
    ['uses', String(info.uses)],
  ]);
}
