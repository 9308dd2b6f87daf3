import {
  ClawsessionError,
  openBackend,
  type RecordStore,
  type SessionStore,
} from '../core/index.js';
import { KEY_COLLECTION } from '../keys/index.js';
import {
  type CopyProgress,
  copyRecords,
  copySessions,
  countRecords,
  drainRecords,
  drainSessions,
  MigratingRecordStore,
  MigratingStore,
  type RecordCopyProgress,
} from '../stores/index.js';
import { REFRESH_FAMILY_COLLECTION, REVOKED_JTI_COLLECTION } from '../tokens/index.js';
import { USER_COLLECTION } from './auth/index.js';
import { configuredCodec, type GatewayConfig } from './config.js';

/**
 * Every RecordStore collection the gateway keeps, in the order `migrate`
 * copies them. The one list: the audit log and conversations join it when
 * they exist.
 */
export const GATEWAY_COLLECTIONS: readonly string[] = [
  USER_COLLECTION,
  KEY_COLLECTION,
  REFRESH_FAMILY_COLLECTION,
  REVOKED_JTI_COLLECTION,
];

/** A source with nothing of clawsession's in it: most likely a mistyped URL. */
export class NothingToMigrateError extends ClawsessionError {
  constructor(displayUrl: string) {
    super(
      'ERR_NOTHING_TO_MIGRATE',
      `nothing to migrate from ${displayUrl}: no clawsession data there (--allow-empty to go on)`,
    );
  }
}

/** Where a migration stands; the session fields stay at the top, as state files have them. */
export interface MigrationProgress extends CopyProgress {
  /** Sessions first, then records; `done` once both are through. */
  phase: 'sessions' | 'records' | 'done';
  records: RecordCopyProgress | null;
}

export interface MigrateOptions {
  from: string;
  to: string;
  config: Pick<GatewayConfig, 'codec' | 'maxDataBytes' | 'encryptionKeys'>;
  batchSize?: number;
  /** The progress of an interrupted run, to resume. */
  resume?: Partial<MigrationProgress> | null;
  /** Go on when the source holds nothing. */
  allowEmpty?: boolean;
  /**
   * Move rather than copy, for a fleet serving on `migrating:<from>|<to>`:
   * each session and record moves as a gateway would move it on access, so
   * the old store ends empty and the fleet can move on to `to` alone.
   */
  live?: boolean;
  clock?: () => number;
  onProgress?: (progress: MigrationProgress) => void | Promise<void>;
}

export interface MigrationCounts {
  sessions: number;
  records: Record<string, number>;
}

/** What `from` holds that `migrate` would move; writes nothing and opens nothing at `to`. */
export async function countMigration(
  options: Pick<MigrateOptions, 'from' | 'to' | 'config' | 'allowEmpty' | 'clock'>,
): Promise<MigrationCounts> {
  openBackend(options.to);
  const { sessions, records } = await openSource(options);
  try {
    return await countSource(options, sessions, records);
  } finally {
    await Promise.allSettled([sessions.close(), records.close()]);
  }
}

/**
 * Moves the gateway's state from one store to another: sessions (see
 * copySessions), then every collection of GATEWAY_COLLECTIONS (see
 * copyRecords), each verified and resumable. A source that does not exist
 * is a StoreNotFoundError, and one that holds nothing a NothingToMigrateError
 * unless `allowEmpty`.
 */
export async function migrateGateway(options: MigrateOptions): Promise<MigrationProgress> {
  const source = await openSource(options);
  const opened: Array<SessionStore | RecordStore> = [source.sessions, source.records];
  try {
    await countSource(options, source.sessions, source.records);
    const target = openBackend(options.to);
    const toSessions = await target.openSessions({ codec: configuredCodec(options.config) });
    opened.push(toSessions);
    const toRecords = await target.openRecords();
    opened.push(toRecords);
    return await run(
      options,
      options.live
        ? new MigratingStore(source.sessions, toSessions)
        : { from: source.sessions, to: toSessions },
      options.live
        ? new MigratingRecordStore(source.records, toRecords, { clock: options.clock })
        : { from: source.records, to: toRecords },
    );
  } finally {
    // The stores themselves: a Migrating… store would close its two a second time.
    await Promise.allSettled(opened.map((store) => store.close()));
  }
}

async function run(
  options: MigrateOptions,
  sessions: MigratingStore | { from: SessionStore; to: SessionStore },
  records: MigratingRecordStore | { from: RecordStore; to: RecordStore },
): Promise<MigrationProgress> {
  const resume = options.resume ?? {};
  const common = { batchSize: options.batchSize, clock: options.clock };
  let progress: MigrationProgress = {
    cursor: null,
    copied: 0,
    skipped: 0,
    refreshed: 0,
    verified: 0,
    phase: 'sessions',
    records: null,
  };
  const report = (next: MigrationProgress) => {
    progress = next;
    return options.onProgress?.(next);
  };
  if (resume.phase !== 'records') {
    const sessionOptions = {
      ...common,
      cursor: resume.phase === 'sessions' || resume.phase === undefined ? resume.cursor : null,
      onProgress: (copied: CopyProgress) => report({ ...progress, ...copied }),
    };
    const copied =
      sessions instanceof MigratingStore
        ? await drainSessions(sessions, sessionOptions)
        : await copySessions(sessions.from, sessions.to, sessionOptions);
    progress = { ...progress, ...copied };
  }
  await report({ ...progress, phase: 'records' });
  const recordOptions = {
    ...common,
    collections: GATEWAY_COLLECTIONS,
    cursor: resume.phase === 'records' ? resume.records?.cursor : null,
    onProgress: (copied: RecordCopyProgress) => report({ ...progress, records: copied }),
  };
  const copiedRecords =
    records instanceof MigratingRecordStore
      ? await drainRecords(records, recordOptions)
      : await copyRecords(records.from, records.to, recordOptions);
  progress = { ...progress, phase: 'done', records: copiedRecords };
  await options.onProgress?.(progress);
  return progress;
}

async function openSource(
  options: Pick<MigrateOptions, 'from' | 'config'>,
): Promise<{ sessions: SessionStore; records: RecordStore }> {
  const backend = openBackend(options.from);
  const sessions = await backend.openSessions({
    codec: configuredCodec(options.config),
    mustExist: true,
  });
  try {
    return { sessions, records: await backend.openRecords({ mustExist: true }) };
  } catch (error) {
    await sessions.close();
    throw error;
  }
}

async function countSource(
  options: Pick<MigrateOptions, 'from' | 'allowEmpty' | 'clock'>,
  sessions: SessionStore,
  records: RecordStore,
): Promise<MigrationCounts> {
  const now = (options.clock ?? Date.now)();
  const counts = {
    sessions: await sessions.countLive(now),
    records: await countRecords(records, GATEWAY_COLLECTIONS, { clock: () => now }),
  };
  const total = counts.sessions + Object.values(counts.records).reduce((a, b) => a + b, 0);
  if (total === 0 && !options.allowEmpty)
    throw new NothingToMigrateError(openBackend(options.from).displayUrl);
  return counts;
}
