import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  ANOMALY_ACTIONS,
  ANOMALY_DEFAULTS,
  type AnomalyConfig,
  RULE_NAMES,
  type RuleSettings,
} from '../anomaly/index.js';
import {
  ConfigError,
  createCodec,
  defaultInstance,
  Keyring,
  parseDuration,
  parsePointer,
  type SessionCodec,
  type SessionStore,
  DURATION_UNITS as UNITS,
} from '../core/index.js';
import { openBackend, openStore } from '../stores/index.js';
import { checkSigningJwk } from '../tokens/index.js';
import { isValidHost } from './host-header.js';
import { normalizedPrefix, proxyRouteSchema } from './proxy-routes.js';
import { weakSecretReason } from './secret-strength.js';

/**
 * A zod refinement from a check that throws ConfigError, so that the config
 * is refused by the same check `serve` would meet later, under the field's name.
 */
function refusedBy<T>(check: (value: T) => unknown) {
  return (value: T, ctx: z.RefinementCtx): void => {
    try {
      check(value);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      ctx.addIssue({ code: 'custom', message: error.message });
    }
  };
}

/** A positive duration in ms: a number, or a string such as `500`, `500ms`, `90s`, `30m`, `24h`, `7d`. */
const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  let ms = Number.NaN;
  try {
    ms = parseDuration(value);
  } catch {
    // reported below, with the field's name
  }
  if (!(ms > 0)) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected a positive duration such as 30m, 24h or a number of ms',
    });
    return z.NEVER;
  }
  return ms;
});

const integer = (min: number, max: number) => {
  const error = `must be an integer from ${min} to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};

/** A boolean, also from the environment's `true` / `false`. */
const flag = z.union(
  [z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')],
  { error: 'must be true or false' },
);

/** A number of proxy hops, also from the environment's digits. */
const hopCount = z
  .union([z.number(), z.string().regex(/^\d+$/).transform(Number)])
  .pipe(z.number().int().min(1).max(100));

/** Proxy addresses or CIDRs, comma-separated; digits alone are a hop count, not an address. */
const proxyAddresses = z
  .string()
  .min(1)
  .refine((value) => !/^\d+$/.test(value), 'a number of proxy hops must be from 1 to 100');

/** A private JWK given as JSON text (so that it can come from one environment variable). */
const privateJwk = z.string().transform((text, ctx) => {
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    jwk = null;
  }
  if (typeof jwk !== 'object' || jwk === null || typeof (jwk as { d?: unknown }).d !== 'string') {
    ctx.addIssue({ code: 'custom', message: 'must be a private JWK as JSON (with "d")' });
    return z.NEVER;
  }
  refusedBy(checkSigningJwk)(jwk as JWK, ctx);
  return jwk as JWK;
});

const GENERATE_A_TOKEN =
  "generate one with `openssl rand -base64 32` or `node -e \"console.log(require('node:crypto').randomBytes(32).toString('base64url'))\"`";

const rateLimit = z.strictObject({ limit: integer(1, 1_000_000), window: duration });

const RATE_LIMIT_DEFAULTS = {
  loginPerIp: { limit: 20, window: 15 * UNITS.m },
  loginPerAccountAddress: { limit: 5, window: 15 * UNITS.m },
  loginPerAccount: { limit: 20, window: 15 * UNITS.m },
  loginSuccessPerAccount: { limit: 30, window: 15 * UNITS.m },
  loginProofOfWork: { difficulty: 18, ttl: 5 * UNITS.m },
  serviceAuthPerIp: { limit: 20, window: 15 * UNITS.m },
};

const credentials = z.discriminatedUnion('source', [
  /** The built-in user table (`clawsession users add`), in the configured store. */
  z.strictObject({ source: z.literal('users') }),
  /** An auth service answering `POST {username,password}` with `200 {user:{id,roles?}}` or 401. */
  z.strictObject({
    source: z.literal('upstream'),
    url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
    timeout: duration.default(5 * UNITS.s),
  }),
]);

/** Names a sink in the delivery log, metrics and `clawsession events`; defaults to its kind. */
const sinkName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'lowercase letters, digits and dashes, starting with a letter')
  .optional();

/** A broker the relay delivers events to (docs/events.md). */
const eventSink = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('redis'),
    name: sinkName,
    url: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }),
    /** The stream events are added to. */
    stream: z.string().min(1).max(200).default('clawsession:events'),
  }),
  z.strictObject({
    kind: z.literal('nats'),
    name: sinkName,
    url: z.url({ protocol: /^(nats|tls)$/, error: 'must be a nats:// or tls:// URL' }),
    /** The JetStream stream, holding subjects `clawsession.<type>`. */
    stream: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and -')
      .default('CLAWSESSION_EVENTS'),
    /** Events go to `<subjectPrefix>.<type>`; two deployments on one server need prefixes of their own. */
    subjectPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and -')
      .default('clawsession'),
  }),
  z.strictObject({
    kind: z.literal('rabbitmq'),
    name: sinkName,
    url: z.url({ protocol: /^amqps?$/, error: 'must be an amqp:// or amqps:// URL' }),
    /** The topic exchange; routing keys are the event types. */
    exchange: z.string().min(1).max(200).default('clawsession.events'),
  }),
]);
const anomalyAction = z.enum(ANOMALY_ACTIONS, {
  error: `must be one of ${ANOMALY_ACTIONS.join(', ')}`,
});

/** What every rule has: whether it runs, what a flag does, and how much it counts. */
function ruleSettings(defaults: RuleSettings) {
  return {
    enabled: flag.default(defaults.enabled),
    action: anomalyAction.default(defaults.action),
    score: integer(0, 100).default(defaults.score),
  };
}

/** A JSON Pointer into session data (RFC 6901), not the whole data. */
const dataPointer = z.string().superRefine((pointer, ctx) => {
  let valid = pointer.startsWith('/');
  try {
    parsePointer(pointer);
  } catch {
    valid = false;
  }
  if (!valid)
    ctx.addIssue({ code: 'custom', message: 'must be a JSON Pointer such as /cart/total' });
});

const RULES = ANOMALY_DEFAULTS.rules;

const anomalyRules = z
  .strictObject(
    {
      'user-agent-change': z
        .strictObject(ruleSettings(RULES['user-agent-change']))
        .default(RULES['user-agent-change']),
      'network-change': z
        .strictObject({
          ...ruleSettings(RULES['network-change']),
          ipv4Prefix: integer(1, 32).default(RULES['network-change'].ipv4Prefix),
          ipv6Prefix: integer(1, 128).default(RULES['network-change'].ipv6Prefix),
        })
        .default(RULES['network-change']),
      'concurrent-use': z
        .strictObject({
          ...ruleSettings(RULES['concurrent-use']),
          window: duration.default(RULES['concurrent-use'].window),
        })
        .default(RULES['concurrent-use']),
      'request-rate': z
        .strictObject({
          ...ruleSettings(RULES['request-rate']),
          limit: integer(1, 1_000_000).default(RULES['request-rate'].limit),
          window: duration.default(RULES['request-rate'].window),
        })
        .default(RULES['request-rate']),
      'refresh-reuse': z
        .strictObject(ruleSettings(RULES['refresh-reuse']))
        .default(RULES['refresh-reuse']),
      'credential-stuffing': z
        .strictObject({
          ...ruleSettings(RULES['credential-stuffing']),
          limit: integer(2, 10_000).default(RULES['credential-stuffing'].limit),
          window: duration.default(RULES['credential-stuffing'].window),
        })
        .default(RULES['credential-stuffing']),
      'new-device': z
        .strictObject({
          ...ruleSettings(RULES['new-device']),
          history: integer(1, 100).default(RULES['new-device'].history),
        })
        .default(RULES['new-device']),
      'watched-field': z
        .strictObject({
          ...ruleSettings(RULES['watched-field']),
          pointers: z.array(dataPointer).max(50).default(RULES['watched-field'].pointers),
          factor: z.coerce
            .number({ error: 'must be a number above 1' })
            .gt(1, { error: 'must be a number above 1' })
            .default(RULES['watched-field'].factor),
        })
        .default(RULES['watched-field']),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown rule ${issue.keys.map((key) => JSON.stringify(key)).join(', ')}; the rules are ${RULE_NAMES.join(', ')}`
          : undefined,
    },
  )
  .default(RULES);

/**
 * Anomaly detection (docs/anomaly.md): each rule's switch, action (`log`,
 * `step-up`, `revoke`), score and thresholds, and how long flags are kept.
 */
const anomalySettings = z.strictObject({
  rules: anomalyRules,
  flagRetention: duration.default(ANOMALY_DEFAULTS.flagRetention),
}) satisfies z.ZodType<AnomalyConfig, unknown>;

/** Objects and lists are set from the environment as JSON, e.g. CLAWSESSION_ROUTES='[...]'. */
const structuredSettings = new Set([
  'routes',
  'auth',
  'cookie',
  'rateLimits',
  'rotation',
  'trustedOrigins',
  'nearCache',
  'metrics',
  'events',
  'anomaly',
]);

export const configSchema = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    /** 0 picks a free port. */
    port: integer(0, 65_535).default(8080),
    /** A store URL (see `openStore`): `sqlite:<path>` (the embedded default), `memory:`, `redis://…`, `redis+cluster://…`, `postgres://…`, `tiered:<hot>|<durable>`. */
    store: z
      .string()
      .min(1)
      .default('sqlite:./data/clawsession.db')
      .superRefine(refusedBy(openBackend)),
    /**
     * Bearer credential for the /v1 API; generated at start and printed once when
     * unset. Refused when weak (see `weakSecretReason`): it holds every scope.
     */
    adminToken: z
      .string()
      .superRefine((token, ctx) => {
        const reason = weakSecretReason(token);
        if (reason !== null)
          ctx.addIssue({ code: 'custom', message: `is too weak: ${reason}; ${GENERATE_A_TOKEN}` });
      })
      .optional(),
    idleTimeout: duration.default(30 * UNITS.m),
    absoluteTimeout: duration.default(24 * UNITS.h),
    touchThreshold: z.coerce.number().min(0).max(1).default(0.1),
    /** Live sessions one user may hold; a login beyond it revokes that user's earliest-created session. */
    maxSessionsPerUser: integer(1, 10_000).default(10),
    codec: z.enum(['msgpack', 'json']).default('msgpack'),
    maxDataBytes: integer(64, 16 * 1024 * 1024).default(64 * 1024),
    /**
     * `id:base64key` pairs separated by commas; the first is the active key,
     * the rest stay readable. Unset means no encryption at rest.
     */
    encryptionKeys: z
      .string()
      .optional()
      .superRefine(refusedBy((spec) => spec && new Keyring(parseEncryptionKeys(spec)))),
    /** Largest accepted request body in bytes. */
    bodyLimit: integer(1024, 64 * 1024 * 1024).default(1024 * 1024),
    /** The longest a whole request, headers and body, may take to arrive (408 after it). */
    requestTimeout: duration.default(30 * UNITS.s),
    /** The longest silence between two chunks of a request body (408 after it). */
    bodyTimeout: duration.default(10 * UNITS.s),
    sweepInterval: duration.default(60 * UNITS.s),
    shutdownTimeout: duration.default(10 * UNITS.s),
    logLevel: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info'),
    /**
     * Whether `X-Forwarded-*` from the peer is believed (for client IPs in rate
     * limits, binding and session lists): false; true (the peer is the one
     * proxy: the right-most X-Forwarded-For entry is the client); a number of
     * proxy hops; or a comma-separated list of proxy addresses or CIDRs.
     */
    trustProxy: z.union([flag, hopCount, proxyAddresses]).default(false),
    /** Set false to refuse `adminToken` (and not generate one): then only API keys authenticate. */
    adminTokenEnabled: flag.default(true),
    cookie: z
      .strictObject({
        name: z.string().min(1).max(64).optional(),
        sameSite: z.enum(['lax', 'strict', 'none']).optional(),
        /** Persistent cookie lifetime; unset for a browser-session cookie. */
        maxAge: duration.optional(),
        /** Plain HTTP for local development: drops Secure and the __Host- prefix. */
        insecureDevelopmentMode: z.boolean().optional(),
      })
      .default({}),
    /** Origins besides the gateway's own allowed to send unsafe requests with the cookie. */
    trustedOrigins: z.array(z.url()).default([]),
    /** Scheduled token rotation of cookie sessions; off when unset. */
    rotation: z.strictObject({ interval: duration, grace: duration.optional() }).optional(),
    auth: credentials.default({ source: 'users' }),
    /**
     * The private JWK (JSON) that signs access tokens and identity contexts.
     * Gateways serving one store must share it; generated per process when unset.
     */
    signingKey: privateJwk.optional(),
    /** Key for deriving refresh-token successors (32+ bytes, base64url); shared like signingKey. */
    refreshSecret: z.string().min(43, 'must be at least 32 bytes in base64url').optional(),
    /** `iss` of access tokens and identity contexts. */
    issuer: z.string().min(1).default('clawsession'),
    /** `aud` of access tokens (clients of this gateway). */
    tokenAudience: z.string().min(1).default('clawsession'),
    /** `aud` of identity contexts (upstream services). */
    contextAudience: z.string().min(1).default('clawsession-upstream'),
    accessTokenTtl: duration.default(5 * UNITS.m),
    refreshTokenTtl: duration.default(30 * UNITS.d),
    contextTtl: duration.default(60 * UNITS.s),
    routes: z
      .array(proxyRouteSchema)
      .default([])
      .refine(
        (routes) => new Set(routes.map((r) => normalizedPrefix(r.prefix))).size === routes.length,
        { message: 'two routes have the same prefix' },
      ),
    proxyTimeout: duration.default(30 * UNITS.s),
    /**
     * The gateway's host as clients reach it (`gateway.example.com`, optionally
     * with a port): when set, upstreams always get it as X-Forwarded-Host.
     */
    publicHost: z
      .string()
      .refine(isValidHost, 'must be a host name or IP address with an optional port')
      .optional(),
    /**
     * Most header lines a request may carry (repeats count); more is a 431.
     * Below Node's own limit of 1,000, beyond which it drops headers silently,
     * so that an excess is always seen.
     */
    maxRequestHeaders: integer(10, 999).default(100),
    /**
     * Failed logins per client address (`loginPerIp`) and per account and
     * address (`loginPerAccountAddress`) are refused past their limit; past
     * `loginPerAccount`, failed logins of an account from every address, the
     * account is not locked: each attempt needs a proof of work of
     * `loginProofOfWork.difficulty` bits. `loginSuccessPerAccount` bounds
     * successful logins, `serviceAuthPerIp` failed service credentials (admin
     * token, API keys) per address. IPv6 addresses count by their /64.
     */
    rateLimits: z
      .strictObject({
        loginPerIp: rateLimit.default(RATE_LIMIT_DEFAULTS.loginPerIp),
        loginPerAccountAddress: rateLimit.default(RATE_LIMIT_DEFAULTS.loginPerAccountAddress),
        loginPerAccount: rateLimit.default(RATE_LIMIT_DEFAULTS.loginPerAccount),
        loginSuccessPerAccount: rateLimit.default(RATE_LIMIT_DEFAULTS.loginSuccessPerAccount),
        loginProofOfWork: z
          .strictObject({
            /** Leading zero bits of SHA-256: 20 is about a million hashes, a second or so of one core. */
            difficulty: integer(1, 32).default(RATE_LIMIT_DEFAULTS.loginProofOfWork.difficulty),
            /** How long a challenge may be answered. */
            ttl: duration.default(RATE_LIMIT_DEFAULTS.loginProofOfWork.ttl),
          })
          .default(RATE_LIMIT_DEFAULTS.loginProofOfWork),
        serviceAuthPerIp: rateLimit.default(RATE_LIMIT_DEFAULTS.serviceAuthPerIp),
      })
      .default(RATE_LIMIT_DEFAULTS),
    /** How long a verified API key is trusted without a store read. */
    keyCacheTtl: duration.default(5 * UNITS.s),
    /**
     * A bounded cache of sessions in each gateway process, in front of the
     * store; off when unset. Other gateways' changes reach it at once over the
     * store's invalidation bus (Redis or PostgreSQL), and after `ttl` at worst.
     */
    nearCache: z
      .strictObject({
        max: integer(1, 10_000_000).default(10_000),
        ttl: duration.default(5 * UNITS.s),
      })
      .optional(),
    /**
     * A listener of its own serving `GET /metrics` without any credential, for
     * a scraper on a private network; off when unset. `/metrics` stays on the
     * main port too, behind `metrics:read`. Anyone who reaches `host` can read
     * the metrics, so it is loopback unless set.
     */
    metrics: z
      .strictObject({
        port: integer(0, 65_535),
        host: z.string().min(1).default('127.0.0.1'),
      })
      .optional(),
    /**
     * Session events (docs/events.md); off when unset. The store then records
     * each change's event in the same step (its outbox, which is also the
     * audit log), and one gateway at a time relays them to `sinks`.
     */
    events: z
      .strictObject({
        /** Names this gateway in its events. Default `<hostname>:<pid>`. */
        instance: z.string().min(1).max(128).optional(),
        sinks: z.array(eventSink).max(8).default([]),
        /** Events handed to a sink at once. */
        batchSize: integer(1, 10_000).default(100),
        /** Consecutive failed deliveries after which a sink is paused until resumed. */
        pauseAfter: integer(1, 1_000).default(10),
        /** How long the audit log keeps an event every sink has delivered. */
        retention: duration.default(30 * UNITS.d),
        /** Where events past `retention` go before they leave the outbox: a folder of daily gzip JSON Lines files. Dropped when unset. */
        archive: z.strictObject({ directory: z.string().min(1) }).optional(),
      })
      .superRefine((events, ctx) => {
        const seen = new Set<string>();
        events.sinks.forEach((sink, index) => {
          const name = sink.name ?? sink.kind;
          if (seen.has(name))
            ctx.addIssue({
              code: 'custom',
              path: ['sinks', index, 'name'],
              message: `two sinks are named ${JSON.stringify(name)}: give each its own name`,
            });
          seen.add(name);
        });
      })
      .optional(),
    /** Anomaly detection on sessions, logins and refresh tokens; off when unset, `{}` for the defaults. */
    anomaly: anomalySettings.optional(),
  })
  .superRefine((config, ctx) => {
    if (config.idleTimeout > config.absoluteTimeout) {
      ctx.addIssue({
        code: 'custom',
        path: ['idleTimeout'],
        message: `must not be longer than absoluteTimeout (${config.absoluteTimeout} ms), which would end every session before it could idle out`,
      });
    }
    if (config.metrics && config.metrics.port !== 0 && config.metrics.port === config.port) {
      ctx.addIssue({
        code: 'custom',
        path: ['metrics', 'port'],
        message: `must differ from port (${config.port})`,
      });
    }
  });

export type GatewayConfig = z.output<typeof configSchema>;
export type GatewayConfigInput = z.input<typeof configSchema>;

/** Environment variable for each setting, e.g. CLAWSESSION_IDLE_TIMEOUT for idleTimeout. */
export const ENV_PREFIX = 'CLAWSESSION_';
const settingNames = Object.keys(configSchema.shape) as (keyof GatewayConfig)[];

export function envName(setting: string): string {
  return ENV_PREFIX + setting.replace(/[A-Z]/g, (letter) => `_${letter}`).toUpperCase();
}

export interface ConfigSources {
  /** Path of a JSON or YAML file; `CLAWSESSION_CONFIG` names it when this is unset. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags or code; they win over the file and the environment. */
  overrides?: Partial<Record<keyof GatewayConfig, unknown>>;
}

/** Defaults, then the file, then the environment, then overrides; validated as one object. */
export function loadConfig(sources: ConfigSources = {}): GatewayConfig {
  const env = sources.env ?? {};
  const file = sources.file ?? env[`${ENV_PREFIX}CONFIG`];
  const merged: Record<string, unknown> = { ...(file ? readConfigFile(file) : {}) };
  for (const name of settingNames) {
    const value = env[envName(name)];
    if (value !== undefined && value !== '') {
      merged[name] = structuredSettings.has(name) ? parseEnvJson(envName(name), value) : value;
    }
  }
  for (const [name, value] of Object.entries(sources.overrides ?? {})) {
    if (value !== undefined) merged[name] = value;
  }
  return parseConfig(merged, file ? `config (file ${file}, environment, flags)` : 'config');
}

export function parseConfig(input: unknown, origin = 'config'): GatewayConfig {
  const result = configSchema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const field = issue.path.join('.') || '(root)';
    const env = issue.path.length === 1 ? ` (${envName(String(issue.path[0]))})` : '';
    return `  ${field}${env}: ${issue.message}`;
  });
  throw new ConfigError(`invalid ${origin}:\n${problems.join('\n')}`);
}

function parseEnvJson(variable: string, value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new ConfigError(`${variable} must be JSON: ${(error as Error).message}`);
  }
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  let parsed: unknown;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  try {
    parsed = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `config file ${path} is not valid ${/\.ya?ml$/i.test(path) ? 'YAML' : 'JSON'}: ${(error as Error).message}`,
    );
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ConfigError(`config file ${path} must hold an object`);
  return parsed as Record<string, unknown>;
}

/** Parses `CLAWSESSION_ENCRYPTION_KEYS`: `id:base64,id:base64`, the first one active. */
export function parseEncryptionKeys(spec: string): {
  activeKeyId: string;
  keys: Record<string, string>;
} {
  const keys: Record<string, string> = {};
  const ids: string[] = [];
  for (const pair of spec
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const separator = pair.indexOf(':');
    if (separator <= 0)
      throw new ConfigError('encryptionKeys must look like id:base64key[,id:base64key...]');
    const id = pair.slice(0, separator);
    if (Object.hasOwn(keys, id))
      throw new ConfigError(`encryption key id ${JSON.stringify(id)} appears twice`);
    keys[id] = pair.slice(separator + 1);
    ids.push(id);
  }
  const [activeKeyId] = ids;
  if (!activeKeyId) throw new ConfigError('encryptionKeys names no key');
  return { activeKeyId, keys };
}

/** Opens the store at `url` with the codec the config describes (format, size cap, encryption keys). */
export async function openConfiguredStore(
  url: string,
  config: Pick<GatewayConfig, 'codec' | 'maxDataBytes' | 'encryptionKeys' | 'events'>,
): Promise<SessionStore> {
  return openBackend(url).openSessions({
    codec: configuredCodec(config),
    // Every process that changes sessions records their events, the CLI's included.
    ...(config.events ? { outbox: { instance: config.events.instance ?? defaultInstance() } } : {}),
  });
}

/** The session codec the config describes: format, size cap, encryption keys. */
export function configuredCodec(
  config: Pick<GatewayConfig, 'codec' | 'maxDataBytes' | 'encryptionKeys'>,
): SessionCodec {
  const keyring = config.encryptionKeys
    ? new Keyring(parseEncryptionKeys(config.encryptionKeys))
    : undefined;
  return createCodec({ format: config.codec, maxBytes: config.maxDataBytes, keyring });
}
