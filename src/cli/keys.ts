import { parseArgs } from 'node:util';
import { parseDuration, ValidationError } from '../core/index.js';
import { loadConfig, openKeyInvalidationBus, presentApiKey } from '../gateway/index.js';
import {
  API_KEY_SCOPES,
  type ApiKeyInfo,
  ApiKeyNotFoundError,
  ApiKeys,
  type IssuedApiKey,
  type Scope,
} from '../keys/index.js';
import { openRecordStore } from '../stores/index.js';

export const KEYS_USAGE = `Usage: clawsession keys <create|list|rotate|revoke> [options]

  keys create --owner <service> --scope <scope> [--scope <scope>…]
              [--expires <ISO date-time | duration such as 90d>]
              [--rate-limit <limit>/<window>, e.g. 100/1m] [--description <text>]
  keys list
  keys rotate <prefix> [--grace <duration, e.g. 10m>]   (default 0: the old secret stops at once)
  keys revoke <prefix>

Scopes: ${API_KEY_SCOPES.join(', ')}.
Options for every subcommand:
  --store <url>      Store URL (default: the config's store)
  --config <file>    JSON or YAML config file
  --json             One JSON document on stdout instead of text

Running gateways drop a rotated or revoked key at once over a Redis or PostgreSQL
store; over others (or a Redis Cluster), within their key cache ttl (5 s).
`;

/** `clawsession keys …`: issues, lists, rotates and revokes API keys in the store. */
export async function keys(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      store: { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      owner: { type: 'string' },
      scope: { type: 'string', multiple: true },
      expires: { type: 'string' },
      'rate-limit': { type: 'string' },
      description: { type: 'string' },
      grace: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [command, prefix, ...extra] = positionals;
  if (extra.length > 0)
    throw new ValidationError(`unexpected argument ${extra[0]}\n\n${KEYS_USAGE}`);
  const allowed: Record<string, readonly string[]> = {
    create: ['owner', 'scope', 'expires', 'rate-limit', 'description'],
    list: [],
    rotate: ['grace'],
    revoke: [],
  };
  const ownOptions = command === undefined ? undefined : allowed[command];
  if (!ownOptions) throw new ValidationError(`keys needs a subcommand\n\n${KEYS_USAGE}`);
  const common = ['store', 'config', 'json'];
  const misplaced = Object.keys(values).find(
    (name) => !common.includes(name) && !ownOptions.includes(name),
  );
  if (misplaced) throw new ValidationError(`--${misplaced} does not apply to keys ${command}`);
  const needsPrefix = command === 'rotate' || command === 'revoke';
  if (needsPrefix !== (prefix !== undefined))
    throw new ValidationError(
      needsPrefix ? `keys ${command} needs a key prefix` : `keys ${command} takes no argument`,
    );

  const config = loadConfig({
    file: values.config,
    env: process.env,
    overrides: { store: values.store },
  });
  const records = await openRecordStore(config.store);
  // Running gateways hear of a rotation or revoke made here at once, where the store carries a bus.
  const bus = await openKeyInvalidationBus(config.store).catch(async (error: unknown) => {
    await records.close();
    throw error;
  });
  const apiKeys = new ApiKeys({ records, invalidationBus: bus ?? undefined });
  const print = (text: string, json: unknown) =>
    process.stdout.write(values.json ? `${JSON.stringify(json)}\n` : text);
  try {
    switch (command) {
      case 'create': {
        const issued = await apiKeys.create({
          owner: values.owner ?? '',
          scopes: (values.scope ?? []).flatMap((scope) => scope.split(',')) as Scope[],
          expiresAt: values.expires === undefined ? null : expiryOf(values.expires),
          rateLimit: values['rate-limit'] === undefined ? null : rateLimitOf(values['rate-limit']),
          description: values.description ?? null,
        });
        const { info } = issued;
        const expiry = info.expiresAt === null ? 'never expires' : `expires ${iso(info.expiresAt)}`;
        print(
          `Created API key ${info.prefix} for ${info.owner} (${info.scopes.join(', ')}); it ${expiry}.\n` +
            shownOnce(issued),
          issuedJson(issued),
        );
        return;
      }
      case 'list': {
        const infos = await apiKeys.list();
        print(infos.length === 0 ? 'No API keys.\n' : table(infos), {
          keys: infos.map(presentApiKey),
        });
        return;
      }
      case 'rotate': {
        const grace = values.grace === undefined ? 0 : parseDuration(values.grace);
        const issued = await apiKeys.rotate(prefix as string, { grace });
        const until = issued.info.previousValidUntil;
        print(
          `Rotated API key ${issued.info.prefix}; the old secret ${until === null ? 'is refused from now on' : `stays valid until ${iso(until)}`}.\n` +
            shownOnce(issued),
          issuedJson(issued),
        );
        return;
      }
      case 'revoke': {
        if (!(await apiKeys.revoke(prefix as string)))
          throw new ApiKeyNotFoundError(prefix as string);
        print(`Revoked API key ${prefix}.\n`, { revoked: prefix });
        return;
      }
    }
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

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** An ISO 8601 date-time, or a duration from now such as `90d`. */
function expiryOf(text: string): number {
  if (/^\d+(ms|s|m|h|d)?$/.test(text.trim())) return Date.now() + parseDuration(text);
  const at = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at))
    throw new ValidationError(
      `--expires takes an ISO date-time such as 2027-01-01T00:00:00Z or a duration such as 90d, got ${JSON.stringify(text)}`,
    );
  return at;
}

/** `100/1m`: at most 100 verifications per minute. */
function rateLimitOf(text: string): { limit: number; windowMs: number } {
  const match = /^(\d+)\/(.+)$/.exec(text.trim());
  if (!match)
    throw new ValidationError(
      `--rate-limit takes <limit>/<window> such as 100/1m, got ${JSON.stringify(text)}`,
    );
  return { limit: Number(match[1]), windowMs: parseDuration(match[2] as string) };
}

function table(infos: ApiKeyInfo[]): string {
  const rows = [
    ['PREFIX', 'OWNER', 'SCOPES', 'EXPIRES', 'LAST USED', 'USES'],
    ...infos.map((info) => [
      info.prefix,
      info.owner,
      info.scopes.join(','),
      info.expiresAt === null ? 'never' : iso(info.expiresAt),
      info.lastUsedAt === null ? 'never' : iso(info.lastUsedAt),
      String(info.uses),
    ]),
  ];
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}
