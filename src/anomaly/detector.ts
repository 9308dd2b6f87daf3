import { createHash } from 'node:crypto';
import {
  defaultInstance,
  newEventId,
  type OutboxEvent,
  type RecordStore,
  type SessionData,
  type SessionManager,
} from '../core/index.js';
import { networkOf } from './network.js';
import { concurrentUse } from './rules/concurrent-use.js';
import { credentialStuffing } from './rules/credential-stuffing.js';
import { networkChange } from './rules/network-change.js';
import { newDevice } from './rules/new-device.js';
import { refreshReuse } from './rules/refresh-reuse.js';
import { countedRequests, requestRate } from './rules/request-rate.js';
import { userAgentChange } from './rules/user-agent-change.js';
import { touchesPointer, watchedFields } from './rules/watched-field.js';
import {
  type AddressState,
  COLLECTIONS,
  changeRecord,
  emptySessionState,
  type SessionState,
  type UserState,
} from './state.js';
import {
  ANOMALY_DEFAULTS,
  type AnomalyAction,
  type AnomalyConfig,
  type AnomalyFlag,
  type Finding,
  type RequestFacts,
  type RequestObservation,
  type RuleName,
  type Verdict,
} from './types.js';
import { userAgentFamily } from './user-agent.js';

export interface AnomalyDetectorOptions {
  /** Where the state every instance shares lives: the gateway's record store. */
  records: RecordStore;
  /** Ends sessions for `revoke`, with the cause `{ actor: 'system', reason: 'anomaly:<rule>' }`. */
  manager: Pick<SessionManager, 'revoke' | 'revokeAllForUser'>;
  /** Default ANOMALY_DEFAULTS. */
  config?: AnomalyConfig;
  clock?: () => number;
  /** Names this process in `anomaly.flagged` events. Default `<hostname>:<pid>`. */
  instance?: string;
  /**
   * A local GeoIP lookup (ISO country code, null when unknown): with one,
   * network-change flags a change of country instead of a change of network.
   */
  countryOf?: (ip: string) => string | null;
  /** Told of every flag with its `anomaly.flagged` event: for metrics, logs and the outbox. */
  onFlag?: (flag: AnomalyFlag, event: OutboxEvent) => void | Promise<void>;
  /** Most sessions whose uncounted requests one process holds (request-rate). Default 50,000. */
  maxPendingSessions?: number;
}

export interface PatchObservation {
  sessionId: string;
  userId: string;
  /** The session's data after the patch. */
  data: SessionData;
  /** The JSON Pointers the patch touched (`patchPaths`). */
  paths: readonly string[];
  sessionExpiresAt: number;
}

export interface FlagQuery {
  userId?: string;
  sessionId?: string;
  /** The `next` of the page before. */
  after?: string;
  limit: number;
}

/** How long a user's login history lives after their last login. */
const LOGIN_HISTORY_TTL = 90 * 24 * 3_600_000;
/** Records one flag listing reads at most, so that a narrow filter cannot scan everything. */
const MAX_FLAGS_SCANNED = 5_000;
const FLAG_PAGE = 200;
const ACTION_STRENGTH: Record<AnomalyAction, number> = { log: 0, 'step-up': 1, revoke: 2 };

/**
 * Watches sessions, logins and refresh tokens for signs of theft and abuse
 * (docs/anomaly.md), with its state in the record store so that every
 * gateway sees one session's behaviour as one. Each rule's finding is a
 * flag (stored for the admin API, handed to `onFlag` with its
 * `anomaly.flagged` event) and its configured action: `log`, `step-up`
 * (the session must log in again) or `revoke`.
 *
 * Per request it reads one record; it writes that record only when the
 * network or browser changes, when a network's last sighting is a quarter of
 * the concurrent-use window old, when a rule flags, or once per
 * `limit / 20` requests a process counts for the request-rate rule.
 */
export class AnomalyDetector {
  readonly config: AnomalyConfig;
  readonly #records: RecordStore;
  readonly #manager: AnomalyDetectorOptions['manager'];
  readonly #clock: () => number;
  readonly #instance: string;
  readonly #countryOf: ((ip: string) => string | null) | undefined;
  readonly #onFlag: AnomalyDetectorOptions['onFlag'];
  readonly #maxPending: number;
  /** Requests of each session counted here and not yet written, for request-rate. */
  readonly #pending = new Map<string, number>();
  /** The id each session had before its token was renamed here, until its state has moved. */
  readonly #renamed = new Map<string, string>();

  constructor(options: AnomalyDetectorOptions) {
    this.config = options.config ?? ANOMALY_DEFAULTS;
    this.#records = options.records;
    this.#manager = options.manager;
    this.#clock = options.clock ?? Date.now;
    this.#instance = options.instance ?? defaultInstance();
    this.#countryOf = options.countryOf;
    this.#onFlag = options.onFlag;
    this.#maxPending = options.maxPendingSessions ?? 50_000;
  }

  /**
   * A session's token was rotated or regenerated: its state moves to the new
   * id with the next request. Needed when that request is the one that
   * rotated the token, which a stolen token's first use may well be.
   */
  noteRenamed(previousId: string, sessionId: string): void {
    this.#renamed.set(sessionId, previousId);
    if (this.#renamed.size > this.#maxPending) {
      const oldest = this.#renamed.keys().next().value as string;
      this.#renamed.delete(oldest);
    }
  }

  /**
   * One request on a session: the session rules (concurrent use, browser,
   * network, request rate). A session that owes a step-up gets it again
   * without any rule being run.
   */
  async observeRequest(request: RequestObservation): Promise<Verdict> {
    const facts = this.#factsOf(request);
    const rate = this.config.rules['request-rate'];
    const counted = rate.enabled ? this.#takePending(request.sessionId) + 1 : 0;
    const flushEvery = Math.max(1, Math.floor(rate.limit / 20));
    const predecessor = await this.#stateBeforeRename(request.sessionId, facts.now);
    let outcome: { owed: RuleName | null; findings: Finding[]; written: boolean };
    try {
      outcome = await this.#changeSession(request, (current) => {
        if (current?.stepUp) return { next: null, owed: current.stepUp, findings: [] };
        const seed = current ?? predecessor;
        // A step-up owed before a rename is still owed after it.
        if (seed?.stepUp) return { next: seed, owed: seed.stepUp, findings: [] };
        const state = structuredClone(seed ?? emptySessionState(request.userId));
        const before = withoutRate(state);
        if (counted > 0) state.rate = countedRequests(state.rate, facts.now, rate.window, counted);
        const findings = this.#enabled([
          // concurrent-use first: it compares with the network before this request.
          concurrentUse(state, facts, this.config.rules['concurrent-use']),
          userAgentChange(state, facts, this.config.rules['user-agent-change']),
          networkChange(state, facts, this.config.rules['network-change']),
          counted > 0 ? requestRate(state, facts, rate) : null,
        ]);
        const changed =
          current === null ||
          findings.length > 0 ||
          counted >= flushEvery ||
          withoutRate(state) !== before;
        return { next: changed ? this.#owing(state, findings) : null, owed: null, findings };
      });
    } catch (error) {
      this.#keepPending(request.sessionId, counted);
      throw error;
    }
    // The state is under the new id now: written here, or found there already.
    this.#renamed.delete(request.sessionId);
    if (!outcome.written) this.#keepPending(request.sessionId, counted);
    if (outcome.owed !== null) return { outcome: 'step-up', rule: outcome.owed };
    return this.#act(outcome.findings, { ...request, facts });
  }

  /** A patch of a session's data: the watched-field rule, read only when the patch touched a watched field. */
  async observePatch(patch: PatchObservation): Promise<Verdict> {
    const settings = this.config.rules['watched-field'];
    if (
      !settings.enabled ||
      !settings.pointers.some((p) => patch.paths.some((q) => touchesPointer(q, p)))
    )
      return { outcome: 'allow' };
    const outcome = await this.#changeSession(patch, (current) => {
      const state = structuredClone(current ?? emptySessionState(patch.userId));
      const findings = watchedFields(state, patch, settings);
      return { next: this.#owing(state, findings), owed: current?.stepUp ?? null, findings };
    });
    const verdict = await this.#act(outcome.findings, {
      ...patch,
      facts: { now: this.#clock(), network: null, country: null, family: null },
    });
    if (verdict.outcome === 'allow' && outcome.owed !== null)
      return { outcome: 'step-up', rule: outcome.owed };
    return verdict;
  }

  /**
   * A successful login that made a new session: the new-device rule against
   * the user's last logins, and the session's first network and browser, so
   * that the first request of a stolen token already compares with them.
   */
  async observeLoginSuccess(login: RequestObservation): Promise<Verdict> {
    const facts = this.#factsOf(login);
    const settings = this.config.rules['new-device'];
    const finding = await changeRecord<UserState, Finding | null>(
      this.#records,
      COLLECTIONS.users,
      hashed(login.userId),
      { now: facts.now, expiresAt: () => facts.now + LOGIN_HISTORY_TTL },
      (current) => {
        const state = structuredClone(current ?? { logins: [] });
        const record = { family: facts.family, network: facts.network, at: facts.now };
        return { next: state, result: newDevice(state, record, settings) };
      },
    );
    const findings = this.#enabled([finding]);
    const state = emptySessionState(login.userId);
    state.network = facts.network;
    state.country = facts.country;
    state.family = facts.family;
    if (facts.network !== null) state.seen[facts.network] = facts.now;
    await this.#records.put(
      COLLECTIONS.sessions,
      login.sessionId,
      toRecord(this.#owing(state, findings)),
      {
        now: facts.now,
        expiresAt: login.sessionExpiresAt,
      },
    );
    return this.#act(findings, { ...login, facts });
  }

  /** A failed login for `account` (a normalised username) from `ip`: the credential-stuffing rule. */
  async observeLoginFailure(failure: { account: string; ip: string }): Promise<void> {
    const settings = this.config.rules['credential-stuffing'];
    if (!settings.enabled) return;
    const now = this.#clock();
    const { key, address, windowEnd } = this.#addressWindow(failure.ip, now);
    const finding = await changeRecord<AddressState, Finding | null>(
      this.#records,
      COLLECTIONS.addresses,
      key,
      { now, expiresAt: () => windowEnd },
      (current) => {
        const state = structuredClone(current ?? { accounts: [], flagged: false });
        const found = credentialStuffing(
          state,
          hashed(failure.account).slice(0, 12),
          address,
          settings,
        );
        const changed = current === null || state.accounts.length !== current.accounts.length;
        return { next: changed ? state : null, result: found };
      },
    );
    if (finding === null) return;
    await this.#act([finding], {
      sessionId: null,
      userId: null,
      facts: { now, network: address, country: null, family: null },
    });
  }

  /**
   * Whether logins from `ip` are refused, and for how long (ms): it was
   * flagged for credential stuffing in this window and the rule's action is
   * not `log`. Null when they are not.
   */
  async loginRefusal(ip: string): Promise<{ retryAfterMs: number; limit: number } | null> {
    const settings = this.config.rules['credential-stuffing'];
    if (!settings.enabled || settings.action === 'log') return null;
    const now = this.#clock();
    const { key, windowEnd } = this.#addressWindow(ip, now);
    const record = await this.#records.get(COLLECTIONS.addresses, key, now);
    const state = record?.value as AddressState | undefined;
    return state?.flagged ? { retryAfterMs: windowEnd - now, limit: settings.limit } : null;
  }

  /**
   * A refresh token used after its rotation, reported by the token service,
   * which has already ended its family and session. With `revoke`, the
   * user's other sessions end too.
   */
  async observeRefreshReuse(reuse: { sessionId: string; userId: string }): Promise<void> {
    const settings = this.config.rules['refresh-reuse'];
    if (!settings.enabled) return;
    const now = this.#clock();
    await this.#act([refreshReuse(settings)], {
      sessionId: null,
      userId: reuse.userId,
      facts: { now, network: null, country: null, family: null },
      flaggedSession: reuse.sessionId,
    });
    if (settings.action === 'revoke')
      await this.#manager.revokeAllForUser(reuse.userId, { cause: causeOf('refresh-reuse') });
  }

  /**
   * Flags in the order of user then time, filtered by user and session, a
   * page of `limit` at a time; `next` continues after this page (null at the end).
   */
  async listFlags(query: FlagQuery): Promise<{ flags: AnomalyFlag[]; next: string | null }> {
    const now = this.#clock();
    let userId = query.userId;
    if (userId === undefined && query.sessionId !== undefined) {
      const state = await this.#records.get(COLLECTIONS.sessions, query.sessionId, now);
      userId = (state?.value as SessionState | undefined)?.userId;
    }
    const prefix = userId === undefined ? '' : `${userKey(userId)}:`;
    let cursor = query.after?.startsWith(prefix) ? query.after : prefix;
    const flags: AnomalyFlag[] = [];
    for (let scanned = 0; scanned < MAX_FLAGS_SCANNED; ) {
      const page = await this.#records.list(COLLECTIONS.flags, {
        now,
        limit: FLAG_PAGE,
        ...(cursor === '' ? {} : { after: cursor }),
      });
      for (const record of page) {
        if (!record.key.startsWith(prefix)) return { flags, next: null };
        cursor = record.key;
        scanned++;
        const flag = record.value as unknown as AnomalyFlag;
        if (query.sessionId !== undefined && flag.sessionId !== query.sessionId) continue;
        flags.push(flag);
        if (flags.length === query.limit) return { flags, next: cursor };
      }
      if (page.length < FLAG_PAGE) return { flags, next: null };
    }
    return { flags, next: cursor };
  }

  /** The state of the id a session had before a rename noted here, if it is still kept. */
  async #stateBeforeRename(sessionId: string, now: number): Promise<SessionState | null> {
    const previousId = this.#renamed.get(sessionId);
    if (previousId === undefined) return null;
    const record = await this.#records.get(COLLECTIONS.sessions, previousId, now);
    return (record?.value as SessionState | undefined) ?? null;
  }

  #factsOf(request: { ip: string | null; userAgent: string | null }): RequestFacts {
    const { ipv4Prefix, ipv6Prefix } = this.config.rules['network-change'];
    return {
      now: this.#clock(),
      network: networkOf(request.ip, ipv4Prefix, ipv6Prefix),
      country: request.ip === null ? null : (this.#countryOf?.(request.ip) ?? null),
      family: userAgentFamily(request.userAgent),
    };
  }

  /** Runs `change` on the session's state under compare-and-set; `written` says whether it wrote. */
  async #changeSession(
    session: { sessionId: string; sessionExpiresAt: number },
    change: (current: SessionState | null) => {
      next: SessionState | null;
      owed: RuleName | null;
      findings: Finding[];
    },
  ) {
    return changeRecord<
      SessionState,
      { owed: RuleName | null; findings: Finding[]; written: boolean }
    >(
      this.#records,
      COLLECTIONS.sessions,
      session.sessionId,
      { now: this.#clock(), expiresAt: () => session.sessionExpiresAt },
      (current) => {
        const { next, ...result } = change(current);
        return { next, result: { ...result, written: next !== null } };
      },
    );
  }

  #enabled(findings: (Finding | null)[]): Finding[] {
    return findings.filter(
      (finding): finding is Finding => finding !== null && this.config.rules[finding.rule].enabled,
    );
  }

  /** The state with the step-up a finding asks for (unless another asks to revoke). */
  #owing(state: SessionState, findings: readonly Finding[]): SessionState {
    const strongest = this.#strongest(findings);
    if (strongest !== null && this.config.rules[strongest.rule].action === 'step-up')
      state.stepUp = strongest.rule;
    return state;
  }

  #strongest(findings: readonly Finding[]): Finding | null {
    let strongest: Finding | null = null;
    for (const finding of findings) {
      const strength = ACTION_STRENGTH[this.config.rules[finding.rule].action];
      if (
        strongest === null ||
        strength > ACTION_STRENGTH[this.config.rules[strongest.rule].action]
      )
        strongest = finding;
    }
    return strongest;
  }

  /** Stores and announces each finding as a flag, then takes the strongest action on the session. */
  async #act(
    findings: readonly Finding[],
    context: {
      sessionId: string | null;
      userId: string | null;
      facts: RequestFacts;
      /** The session a flag is about when it is already gone (refresh reuse). */
      flaggedSession?: string;
    },
  ): Promise<Verdict> {
    const { now, network, family } = context.facts;
    for (const finding of findings) {
      const flag: AnomalyFlag = {
        ...finding,
        id: newEventId(),
        action: this.config.rules[finding.rule].action,
        time: now,
        sessionId: context.sessionId ?? context.flaggedSession ?? null,
        userId: context.userId,
        network,
        userAgentFamily: family,
      };
      await this.#records.put(COLLECTIONS.flags, flagKey(flag), toRecord(flag), {
        now,
        expiresAt: now + this.config.flagRetention,
      });
      await this.#onFlag?.(flag, flaggedEvent(flag, this.#instance));
    }
    const strongest = this.#strongest(findings);
    if (strongest === null || context.sessionId === null) return { outcome: 'allow' };
    const action = this.config.rules[strongest.rule].action;
    if (action === 'revoke') {
      await this.#manager.revoke({ id: context.sessionId }, { cause: causeOf(strongest.rule) });
      return { outcome: 'revoked', rule: strongest.rule };
    }
    return action === 'step-up'
      ? { outcome: 'step-up', rule: strongest.rule }
      : { outcome: 'allow' };
  }

  /** The address as the credential-stuffing rule counts it (an IPv6 client by its /64) and its window. */
  #addressWindow(ip: string, now: number) {
    const { window } = this.config.rules['credential-stuffing'];
    const address = networkOf(ip, 32, 64) ?? ip;
    const start = now - (now % window);
    return { key: `${address}@${start}`, address, windowEnd: start + window };
  }

  #takePending(sessionId: string): number {
    const pending = this.#pending.get(sessionId) ?? 0;
    this.#pending.delete(sessionId);
    return pending;
  }

  #keepPending(sessionId: string, count: number): void {
    if (count === 0) return;
    this.#pending.set(sessionId, (this.#pending.get(sessionId) ?? 0) + count);
    if (this.#pending.size > this.#maxPending) {
      const oldest = this.#pending.keys().next().value as string;
      this.#pending.delete(oldest);
    }
  }
}

/** The `anomaly.flagged` event of a flag: no token, no full address, no full User-Agent. */
export function flaggedEvent(flag: AnomalyFlag, instance: string): OutboxEvent {
  return {
    id: flag.id,
    type: 'anomaly.flagged',
    time: flag.time,
    sessionId: flag.sessionId,
    userId: flag.userId,
    sequence: 0,
    instance,
    data: {
      rule: flag.rule,
      reason: flag.reason,
      score: flag.score,
      action: flag.action,
      network: flag.network,
      userAgentFamily: flag.userAgentFamily,
    },
  };
}

function causeOf(rule: RuleName) {
  return { actor: 'system', reason: `anomaly:${rule}` };
}

function withoutRate(state: SessionState): string {
  return JSON.stringify({ ...state, rate: null });
}

function hashed(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Flags of one user sort together, in time order; flags of no user under `-`. */
function userKey(userId: string | null): string {
  return userId === null ? '-' : hashed(userId).slice(0, 32);
}

function flagKey(flag: AnomalyFlag): string {
  return `${userKey(flag.userId)}:${flag.time.toString(36).padStart(9, '0')}:${flag.id}`;
}

function toRecord<T>(value: T) {
  return value as unknown as Parameters<RecordStore['put']>[2];
}
