import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Client } from 'pg';

/** The WAL of one schema's relations over a range, per operation. */
export interface WalShare {
  /** Whole records (header, data and any page images), padding between them left out. */
  bytesPerOp: number;
  recordsPerOp: number;
  /** The records without their page images. */
  recordBytesPerOp: number;
  /** Full-page images: the first change to a page after a checkpoint logs the whole page. */
  fpiBytesPerOp: number;
  fpisPerOp: number;
}

const RECORD = /^rmgr: (\S+)\s+len \(rec\/tot\):\s*(\d+)\/\s*(\d+), tx:\s*(\d+),/;
const RELATION = /rel \d+\/(\d+)\/(\d+)/g;
const PAGE_IMAGE = /\bFPW\b/g;

/**
 * Reads a range of the server's WAL with pg_waldump and keeps the records of
 * one schema's relations (tables, indexes, their TOAST) and the commits of
 * the transactions that wrote them: the server's WAL holds everyone's, and
 * others write to this server at the same time.
 */
export class WalReader {
  readonly #binary: string;
  readonly #walDirectory: string;
  readonly #database: string;
  readonly #files: Set<string>;

  private constructor(binary: string, walDirectory: string, database: string, files: Set<string>) {
    this.#binary = binary;
    this.#walDirectory = walDirectory;
    this.#database = database;
    this.#files = files;
  }

  /** After the schema's tables exist: their file numbers are what the WAL names. */
  static async open(observer: Client, schema: string): Promise<WalReader> {
    const setting = async (name: string) =>
      String((await observer.query('SELECT current_setting($1) AS value', [name])).rows[0]?.value);
    const major = Math.floor(Number(await setting('server_version_num')) / 10000);
    const { rows: database } = await observer.query<{ oid: number }>(
      'SELECT oid FROM pg_database WHERE datname = current_database()',
    );
    const { rows: files } = await observer.query<{ file: string }>(
      `WITH own AS (SELECT oid, reltoastrelid FROM pg_class WHERE relnamespace = $1::regnamespace),
            toast AS (SELECT reltoastrelid AS oid FROM own WHERE reltoastrelid <> 0)
       SELECT pg_relation_filenode(oid)::text AS file FROM own
       UNION SELECT pg_relation_filenode(oid)::text FROM toast
       UNION SELECT pg_relation_filenode(indexrelid)::text FROM pg_index
              WHERE indrelid IN (SELECT oid FROM toast)`,
      [schema],
    );
    return new WalReader(
      process.env.CAPACITY_PG_WALDUMP ?? `/usr/lib/postgresql/${major}/bin/pg_waldump`,
      `${await setting('data_directory')}/pg_wal`,
      String(database[0]?.oid),
      new Set(files.map((row) => row.file).filter(Boolean)),
    );
  }

  async share(from: string, to: string, ops: number): Promise<WalShare> {
    const dump = spawn(this.#binary, ['--path', this.#walDirectory, '--start', from, '--end', to], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    dump.stderr.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const exited = once(dump, 'close');
    const writers = new Set<string>();
    let records = 0;
    let pageImages = 0;
    let recordBytes = 0;
    let totalBytes = 0;
    for await (const line of createInterface({ input: dump.stdout })) {
      const record = RECORD.exec(line);
      if (!record) continue;
      const [, manager, length, total, transaction] = record as unknown as string[];
      const ours = [...line.matchAll(RELATION)].some(
        ([, database, file]) => database === this.#database && this.#files.has(file as string),
      );
      const commitOfOurs = manager === 'Transaction' && writers.has(transaction as string);
      if (!ours && !commitOfOurs) continue;
      if (ours && transaction !== '0') writers.add(transaction as string);
      records++;
      pageImages += line.match(PAGE_IMAGE)?.length ?? 0;
      recordBytes += Number(length);
      totalBytes += Number(total);
    }
    const [code] = await exited;
    // pg_waldump ends with an error when the range stops inside a record: what it read is still right.
    if (code !== 0 && records === 0) throw new Error(`pg_waldump: ${stderr.trim().split('\n')[0]}`);
    return {
      bytesPerOp: totalBytes / ops,
      recordsPerOp: records / ops,
      recordBytesPerOp: recordBytes / ops,
      fpiBytesPerOp: (totalBytes - recordBytes) / ops,
      fpisPerOp: pageImages / ops,
    };
  }
}
