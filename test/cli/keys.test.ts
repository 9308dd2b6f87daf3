import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { ApiKeyNotFoundError, ApiKeys } from '../../src/keys/index.js';
import { SqliteRecordStore } from '../../src/stores/index.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-cli-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const KEY_LINE = /^cs_live_[0-9A-Za-z]{12}_[A-Za-z0-9_-]{43}$/m;

afterEach(() => {
  vi.restoreAllMocks();
});

/** A fresh SQLite file, and `keys()` run against it with its stdout captured. */
function fresh() {
  const filename = join(dir, `${++files}/keys.db`);
  const store = `sqlite:${filename}`;
  const run = async (...args: string[]): Promise<string> => {
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out += String(chunk);
      return true;
    });
    try {
      await runCli(['keys', ...args, '--store', store]);
    } finally {
      vi.restoreAllMocks();
    }
    return out;
  };
  /** Verifies through the library, as a gateway reading the same file would. */
  const verify = async (key: string) => {
    const records = new SqliteRecordStore({ filename });
    const apiKeys = new ApiKeys({ records });
    try {
      return await apiKeys.verify(key);
    } finally {
      await apiKeys.close();
      await records.close();
    }
  };
  return { filename, store, run, verify };
}

describe('clawsession keys', () => {
  it('creates a key, printing the secret once, and lists it', async () => {
    const { run, verify } = await fresh();
    const out = await run(
      'create',
      '--owner',
      'billing',
      '--scope',
      'sessions:read,sessions:write',
      '--scope',
      'keys:admin',
      '--expires',
      '2099-01-01T00:00:00Z',
      '--rate-limit',
      '100/1m',
      '--description',
      'nightly export',
    );
    const key = KEY_LINE.exec(out)?.[0] as string;
    expect(key).toBeDefined();
    const prefix = key.slice(8, 20);
    expect(out).toContain(
      `Created API key ${prefix} for billing (sessions:read, sessions:write, keys:admin); it expires 2099-01-01T00:00:00.000Z.`,
    );
    expect(out.split(key.slice(21))).toHaveLength(2);
    expect(await verify(key)).toMatchObject({
      owner: 'billing',
      rateLimit: { limit: 100, windowMs: 60_000 },
    });

    const listed = await run('list');
    expect(listed.split('\n')[0]).toMatch(/^PREFIX\s+OWNER\s+SCOPES\s+EXPIRES\s+LAST USED\s+USES$/);
    expect(listed).toContain(prefix);
    expect(listed).not.toContain(key.slice(21));
    const json = JSON.parse(await run('list', '--json'));
    expect(json.keys).toEqual([
      expect.objectContaining({ prefix, owner: 'billing', uses: 1, description: 'nightly export' }),
    ]);
  });

  it('prints machine-readable JSON with --json', async () => {
    const { run, verify } = await fresh();
    const created = JSON.parse(
      await run('create', '--owner', 'search', '--scope', 'sessions:read', '--json'),
    );
    expect(created.key).toMatch(KEY_LINE);
    expect(created.info).toMatchObject({
      owner: 'search',
      scopes: ['sessions:read'],
      expiresAt: null,
    });
    expect((await verify(created.key)).prefix).toBe(created.info.prefix);
    expect(JSON.parse(await run('revoke', created.info.prefix, '--json'))).toEqual({
      revoked: created.info.prefix,
    });
  });

  it('rotates with a grace period and revokes', async () => {
    const { run, verify } = await fresh();
    const first = JSON.parse(
      await run('create', '--owner', 'billing', '--scope', 'sessions:read', '--json'),
    );
    const prefix = first.info.prefix as string;
    const out = await run('rotate', prefix, '--grace', '10m');
    expect(out).toMatch(
      new RegExp(`^Rotated API key ${prefix}; the old secret stays valid until \\S+Z\\.$`, 'm'),
    );
    const second = KEY_LINE.exec(out)?.[0] as string;
    expect(second.slice(8, 20)).toBe(prefix);
    await verify(first.key);
    await verify(second);

    const third = await run('rotate', prefix);
    expect(third).toContain('the old secret is refused from now on');
    await expect(verify(second)).rejects.toMatchObject({ code: 'ERR_API_KEY_INVALID' });

    expect(await run('revoke', prefix)).toBe(`Revoked API key ${prefix}.\n`);
    await expect(verify(KEY_LINE.exec(third)?.[0] as string)).rejects.toMatchObject({
      code: 'ERR_API_KEY_INVALID',
    });
    await expect(run('revoke', prefix)).rejects.toBeInstanceOf(ApiKeyNotFoundError);
    await expect(run('rotate', prefix)).rejects.toBeInstanceOf(ApiKeyNotFoundError);
  });

  it("shows one key's metadata, never its secret, and refuses a prefix no key has", async () => {
    const { run } = await fresh();
    expect(await run('list')).toBe('No API keys.\n');
    const created = JSON.parse(
      await run(
        'create',
        '--owner',
        'billing',
        '--scope',
        'sessions:read',
        '--rate-limit',
        '100/1m',
        '--description',
        'nightly export',
        '--json',
      ),
    );
    const prefix = created.info.prefix as string;
    const secret = (created.key as string).slice(21);
    const shown = await run('show', prefix);
    expect(shown).toMatch(new RegExp(`^prefix +${prefix}$`, 'm'));
    expect(shown).toMatch(/^owner +billing$/m);
    expect(shown).toMatch(/^scopes +sessions:read$/m);
    expect(shown).toMatch(/^description +nightly export$/m);
    expect(shown).toMatch(/^rate limit +100 per 1m$/m);
    expect(shown).toMatch(/^expires +never$/m);
    expect(shown).toMatch(/^uses +0$/m);
    const json = JSON.parse(await run('show', prefix, '--json'));
    expect(json).toEqual({
      info: expect.objectContaining({
        prefix,
        owner: 'billing',
        scopes: ['sessions:read'],
        rateLimit: { limit: 100, windowMs: 60_000 },
        uses: 0,
      }),
    });
    for (const output of [shown, JSON.stringify(json)]) {
      expect(output).not.toContain(secret);
      expect(output).not.toMatch(/hash/i);
    }
    await expect(run('show', 'AAAAAAAAAAAA')).rejects.toBeInstanceOf(ApiKeyNotFoundError);
  });

  it('takes the store from --config when --store is not given', async () => {
    const { filename, verify } = await fresh();
    const config = join(dir, `config-${files}.json`);
    writeFileSync(config, JSON.stringify({ store: `sqlite:${filename}` }));
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out += String(chunk);
      return true;
    });
    await runCli([
      'keys',
      'create',
      '--owner',
      'billing',
      '--scope',
      'sessions:read',
      '--config',
      config,
    ]);
    vi.restoreAllMocks();
    expect((await verify(KEY_LINE.exec(out)?.[0] as string)).owner).toBe('billing');
  });

  it('refuses bad arguments with a typed error and writes nothing', async () => {
    const { run } = await fresh();
    const bad: string[][] = [
      [],
      ['delete'],
      ['create'],
      ['create', '--owner', 'billing'],
      ['create', '--owner', 'billing', '--scope', 'sessions:everything'],
      ['create', '--owner', 'billing', '--scope', 'sessions:read', '--rate-limit', '100'],
      ['create', '--owner', 'billing', '--scope', 'sessions:read', '--rate-limit', '0/1m'],
      ['create', '--owner', 'billing', '--scope', 'sessions:read', '--expires', 'tomorrow'],
      [
        'create',
        '--owner',
        'billing',
        '--scope',
        'sessions:read',
        '--expires',
        '2020-01-01T00:00:00Z',
      ],
      ['create', '--owner', 'billing', '--scope', 'sessions:read', '--grace', '1m'],
      ['create', 'extra', '--owner', 'billing', '--scope', 'sessions:read'],
      ['list', 'extra'],
      ['rotate'],
      ['rotate', 'short'],
      ['rotate', 'AAAAAAAAAAAA', '--grace=-5m'],
      ['revoke', 'has_under_sc'],
    ];
    // A command line that cannot run is ERR_USAGE; one that runs but is refused, ERR_VALIDATION.
    for (const args of bad) {
      await expect(run(...args), args.join(' ')).rejects.toMatchObject({
        code: expect.stringMatching(/^ERR_(USAGE|VALIDATION)$/),
      });
    }
    await expect(
      run('create', '--owner', 'billing', '--scope', 'sessions:read', '--color'),
    ).rejects.toMatchObject({ code: 'ERR_USAGE', message: expect.stringContaining("'--color'") });
    expect(JSON.parse(await run('list', '--json'))).toEqual({ keys: [] });
  });
});
