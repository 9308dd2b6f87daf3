import type { FastifyBaseLogger, FastifyInstance, onRequestAsyncHookHandler } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { type PoolStats, withTimeout } from '../core/index.js';
import { isStoreFault, type StoreObserver } from '../stores/index.js';
import { routeLabel } from './route-label.js';
import type { SweepResult } from './sweeper.js';

/** The outcome of checking an internal API key, as the key-verification counter labels it. */
export type KeyVerificationResult = 'ok' | 'invalid' | 'forbidden' | 'rate_limited';

export interface GatewayMetricsOptions {
  /** Counts the live sessions, for `clawsession_sessions_active`: the server passes `() => manager.countLive()`. */
  countLiveSessions: () => Promise<number>;
  /** How long one count serves scrapes, in ms, so that scrapes do not each ask the store. Default 10,000. */
  activeSessionsCacheTtl?: number;
  /** Longest a scrape waits for the count, in ms, before it reports NaN. Default 2,000. */
  countTimeout?: number;
  /** Milliseconds since the epoch, for the cache. Default `Date.now`. */
  clock?: () => number;
  /** The gateway's `sweepInterval` in ms, exported so that an alert can tell a lagging sweeper. */
  sweepInterval?: number;
}

export { UNMATCHED_ROUTE } from './route-label.js';

const KEY_VERIFICATION_RESULTS: readonly KeyVerificationResult[] = [
  'ok',
  'invalid',
  'forbidden',
  'rate_limited',
];
const SWEEP_RESULTS: readonly SweepResult[] = ['swept', 'skipped', 'failed'];

/** Store calls are mostly sub-millisecond to tens of milliseconds; the default buckets start too high. */
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * The gateway's Prometheus metrics, in a registry of its own (never the
 * global one, so two gateways in one process do not collide): process
 * metrics, HTTP requests by route pattern and status, active sessions, store
 * operations, key verifications, rate-limit rejections, upstream
 * responses, the gateway cookies upstreams tried to set, anomaly flags and sweeps.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  /** Hand this to `InstrumentedStore` to time the store's operations. */
  readonly storeObserver: StoreObserver;
  readonly #httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly #httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly #keyVerifications: Counter<'result'>;
  readonly #rateLimitRejections: Counter<'limiter'>;
  readonly #upstreamRequests: Counter<'route' | 'status'>;
  readonly #upstreamCookiesDropped: Counter<'route'>;
  readonly #sweeps: Counter<'result'>;
  readonly #anomalies: Counter<'rule' | 'action'>;
  readonly #eventsDelivered: Counter<'sink'>;
  readonly #eventDeliveryFailures: Counter<'sink'>;
  readonly #eventSinkPaused: Gauge<'sink'>;
  readonly #eventBacklog: Gauge<'sink'>;
  readonly #eventBacklogAge: Gauge<'sink'>;
  readonly #sweptRecords: Counter;
  readonly #lastSweep: Gauge;
  readonly #activeSessions: Gauge;
  readonly #countLiveSessions: () => Promise<number>;
  readonly #cacheTtl: number;
  readonly #countTimeout: number;
  readonly #clock: () => number;
  #cachedCount: { value: number; at: number } | undefined;
  #counting: Promise<number> | undefined;
  #log: FastifyBaseLogger | undefined;

  constructor(options: GatewayMetricsOptions) {
    this.#countLiveSessions = options.countLiveSessions;
    this.#cacheTtl = options.activeSessionsCacheTtl ?? 10_000;
    this.#countTimeout = options.countTimeout ?? 2_000;
    this.#clock = options.clock ?? Date.now;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'clawsession_' });

    this.#httpRequests = new Counter({
      name: 'clawsession_http_requests_total',
      help: 'HTTP requests answered, by method, route (pattern, or proxy route prefix) and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.#httpDuration = new Histogram({
      name: 'clawsession_http_request_duration_seconds',
      help: 'Time from receiving a request to sending its response, by method, route (pattern, or proxy route prefix) and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.#activeSessions = new Gauge({
      name: 'clawsession_sessions_active',
      help: 'Live sessions, as the store counts them; NaN when the store could not count.',
      registers,
    });
    const storeDuration = new Histogram({
      name: 'clawsession_store_operation_duration_seconds',
      help: 'Session store operations, by operation, failed ones included.',
      labelNames: ['operation'],
      buckets: STORE_BUCKETS,
      registers,
    });
    const storeErrors = new Counter({
      name: 'clawsession_store_operation_errors_total',
      help: 'Session store operations that failed for a fault of the store (unreachable, broken, unreadable data), by operation and error code; refusals such as a stale version or a failed test are not counted.',
      labelNames: ['operation', 'code'],
      registers,
    });
    this.storeObserver = {
      onOperation(operation, seconds, errorCode) {
        storeDuration.observe({ operation }, seconds);
        if (errorCode !== null && isStoreFault(errorCode))
          storeErrors.inc({ operation, code: errorCode });
      },
    };
    this.#keyVerifications = new Counter({
      name: 'clawsession_key_verifications_total',
      help: 'Internal API key verifications, by result.',
      labelNames: ['result'],
      registers,
    });
    for (const result of KEY_VERIFICATION_RESULTS) this.#keyVerifications.inc({ result }, 0);
    this.#rateLimitRejections = new Counter({
      name: 'clawsession_rate_limit_rejections_total',
      help: 'Requests refused by a rate limiter, by limiter.',
      labelNames: ['limiter'],
      registers,
    });
    this.#upstreamRequests = new Counter({
      name: 'clawsession_upstream_requests_total',
      help: 'Responses from upstream services through the proxy, by route (prefix) and status.',
      labelNames: ['route', 'status'],
      registers,
    });
    this.#upstreamCookiesDropped = new Counter({
      name: 'clawsession_upstream_cookies_dropped_total',
      help: 'Set-Cookie headers from upstream services dropped for naming a gateway cookie, by route (prefix).',
      labelNames: ['route'],
      registers,
    });
    this.#anomalies = new Counter({
      name: 'clawsession_anomalies_total',
      help: 'Flags raised by anomaly detection, by rule and the action configured for it (log, step-up, revoke).',
      labelNames: ['rule', 'action'],
      registers,
    });
    this.#eventsDelivered = new Counter({
      name: 'clawsession_events_delivered_total',
      help: 'Session events this gateway relayed to each sink and the sink acknowledged.',
      labelNames: ['sink'],
      registers,
    });
    this.#eventDeliveryFailures = new Counter({
      name: 'clawsession_event_delivery_failures_total',
      help: 'Failed publishes of a batch of events to each sink (each is retried).',
      labelNames: ['sink'],
      registers,
    });
    this.#eventSinkPaused = new Gauge({
      name: 'clawsession_event_sink_paused',
      help: 'Whether a sink is paused after failing pauseAfter times in a row (1) or not (0), as this gateway last saw it.',
      labelNames: ['sink'],
      registers,
    });
    this.#eventBacklog = new Gauge({
      name: 'clawsession_event_backlog',
      help: 'Events in the outbox a sink has not acknowledged yet, as the relaying gateway last measured.',
      labelNames: ['sink'],
      registers,
    });
    this.#eventBacklogAge = new Gauge({
      name: 'clawsession_event_backlog_age_seconds',
      help: 'Age of the oldest event a sink has not acknowledged yet; 0 when none waits.',
      labelNames: ['sink'],
      registers,
    });
    this.#sweeps = new Counter({
      name: 'clawsession_sweeps_total',
      help: 'Sweeps of expired sessions and records this gateway tried, by result: swept, skipped (another gateway held the sweep lease) or failed.',
      labelNames: ['result'],
      registers,
    });
    for (const result of SWEEP_RESULTS) this.#sweeps.inc({ result }, 0);
    this.#sweptRecords = new Counter({
      name: 'clawsession_swept_records_total',
      help: "Expired sessions and records this gateway's sweeps removed.",
      registers,
    });
    this.#lastSweep = new Gauge({
      name: 'clawsession_sweep_last_success_timestamp_seconds',
      help: 'When this gateway last completed a sweep, in seconds since the epoch; 0 before its first.',
      registers,
    });
    if (options.sweepInterval !== undefined) {
      new Gauge({
        name: 'clawsession_sweep_interval_seconds',
        help: 'How often each gateway tries to sweep (sweepInterval); one of them at a time does.',
        registers,
      }).set(options.sweepInterval / 1000);
    }
  }

  /**
   * Exports the session store's connection pool, read at each scrape: its
   * size, its connections by state, and the requests waiting for one. Call
   * once, for a store that has a pool.
   */
  observePool(poolStats: () => PoolStats | undefined): void {
    registerPoolGauges(poolStats, [this.registry]);
  }

  recordKeyVerification(result: KeyVerificationResult): void {
    this.#keyVerifications.inc({ result });
  }

  /** `limiter` names a configured limiter (a bounded set), never a client or a key. */
  recordRateLimitRejection(limiter: string): void {
    this.#rateLimitRejections.inc({ limiter });
  }

  /** `rule` and `action` come from the anomaly config's fixed sets, never from a request. */
  recordAnomaly(rule: string, action: string): void {
    this.#anomalies.inc({ rule, action });
  }

  /** `sink` names a configured sink (a bounded set). A delivery also shows the sink is not paused. */
  recordEventsDelivered(sink: string, count: number): void {
    this.#eventsDelivered.inc({ sink }, count);
    this.#eventSinkPaused.set({ sink }, 0);
  }

  recordEventDeliveryFailure(sink: string): void {
    this.#eventDeliveryFailures.inc({ sink });
  }

  recordEventSinkPaused(sink: string, paused: boolean): void {
    this.#eventSinkPaused.set({ sink }, paused ? 1 : 0);
  }

  recordEventBacklog(sink: string, backlog: { count: number; oldestAge: number | null }): void {
    this.#eventBacklog.set({ sink }, backlog.count);
    this.#eventBacklogAge.set({ sink }, (backlog.oldestAge ?? 0) / 1000);
  }

  /** `route` is the proxy route's prefix, the label its requests have (see `routeLabel`). */
  recordUpstreamResponse(route: string, status: number): void {
    this.#upstreamRequests.inc({ route, status: String(status) });
  }

  /** How a sweep went, how many records it removed, and when it ended (ms since the epoch). */
  recordSweep(result: SweepResult, removed: number, at: number): void {
    this.#sweeps.inc({ result });
    if (result !== 'swept') return;
    this.#sweptRecords.inc(removed);
    this.#lastSweep.set(at / 1000);
  }

  /** `route` is the proxy route's prefix, the label its requests have (see `routeLabel`). */
  recordUpstreamCookieDropped(route: string): void {
    this.#upstreamCookiesDropped.inc({ route });
  }

  /**
   * Counts every response of `app` (call it on the root instance, before it
   * is ready) and serves `GET /metrics` there (see `serve`). Failures to
   * count sessions are logged to `app.log`.
   */
  register(app: FastifyInstance, options: { guard?: onRequestAsyncHookHandler } = {}): void {
    this.#log = app.log;
    app.addHook('onResponse', (request, reply, done) => {
      const labels = {
        method: request.method,
        route: routeLabel(request),
        status: String(reply.statusCode),
      };
      this.#httpRequests.inc(labels);
      this.#httpDuration.observe(labels, reply.elapsedTime / 1000);
      done();
    });
    this.serve(app, options);
  }

  /**
   * Serves `GET /metrics` on `app` in the Prometheus text format, behind
   * `guard` when one is given (the gateway's main port passes its credential
   * check; its metrics listener passes none).
   */
  serve(app: FastifyInstance, options: { guard?: onRequestAsyncHookHandler } = {}): void {
    app.get(
      '/metrics',
      options.guard ? { onRequest: options.guard } : {},
      async (_request, reply) => {
        const text = await this.metrics();
        return reply.type(this.registry.contentType).send(text);
      },
    );
  }

  /**
   * The exposition text, in `registry.contentType`. The session count comes
   * first, so that its own store operation is in the same scrape.
   */
  async metrics(): Promise<string> {
    this.#activeSessions.set(await this.#liveSessions());
    return this.registry.metrics();
  }

  /** The cached count while fresh; else one count shared by concurrent scrapes; NaN if it fails. */
  async #liveSessions(): Promise<number> {
    const cached = this.#cachedCount;
    if (cached && this.#clock() - cached.at < this.#cacheTtl) return cached.value;
    this.#counting ??= this.#count().finally(() => {
      this.#counting = undefined;
    });
    return this.#counting;
  }

  async #count(): Promise<number> {
    try {
      const value = await withTimeout(
        this.#countLiveSessions(),
        this.#countTimeout,
        () => new Error(`no count within ${this.#countTimeout} ms`),
      );
      this.#cachedCount = { value, at: this.#clock() };
      return value;
    } catch (error) {
      this.#log?.warn({ err: error }, 'counting active sessions for metrics failed');
      return Number.NaN;
    }
  }
}

/**
 * Waiting above zero for long means the pool is too small for the load (see
 * the postgres store URL's `poolSize`); the store refuses requests with 503
 * once `poolQueue` of them wait.
 */
function registerPoolGauges(poolStats: () => PoolStats | undefined, registers: Registry[]): void {
  const observe = (gauge: Gauge, set: (stats: PoolStats) => void) => {
    gauge.reset();
    const stats = poolStats();
    if (stats) set(stats);
  };
  new Gauge({
    name: 'clawsession_store_pool_size',
    help: "The session store's connection pool size (poolSize).",
    registers,
    collect() {
      observe(this, (stats) => this.set(stats.max));
    },
  });
  new Gauge({
    name: 'clawsession_store_pool_connections',
    help: "Connections of the session store's pool, by state: in_use or idle.",
    labelNames: ['state'],
    registers,
    collect() {
      observe(this, (stats) => {
        this.set({ state: 'in_use' }, stats.total - stats.idle);
        this.set({ state: 'idle' }, stats.idle);
      });
    },
  });
  new Gauge({
    name: 'clawsession_store_pool_waiting',
    help: "Requests waiting for a connection of the session store's pool.",
    registers,
    collect() {
      observe(this, (stats) => this.set(stats.waiting));
    },
  });
}
