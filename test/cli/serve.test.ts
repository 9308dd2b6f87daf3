import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

// `npm test` builds first (pretest), so this drives the real `clawsession` bin.
const BIN = resolve('dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'clawsession-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH, CLAWSESSION_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const output = () => ({ stdout, stderr });
  const waitFor = async (pattern: RegExp): Promise<RegExpExecArray> => {
    for (;;) {
      const match = pattern.exec(stdout);
      if (match) return match;
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${stdout}${stderr}`);
      await once(child.stdout as NodeJS.ReadableStream, 'data');
    }
  };
  return { child, exited, output, waitFor };
}

async function startServer(env: Record<string, string>) {
  const server = run(['serve'], { CLAWSESSION_PORT: '0', ...env });
  const [, url] = await server.waitFor(/listening on (http:\/\/\S+)/);
  return { ...server, url: url as string };
}

describe('clawsession serve', () => {
  it('runs on SQLite under ./data by default, prints its address and a generated admin token once', async () => {
    const server = await startServer({});
    const [, token] = await server.waitFor(/"adminToken":"([^"]+)"/);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.output().stdout).toContain('store sqlite:./data/clawsession.db');
    const created = await fetch(`${server.url}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'alice' }),
    });
    expect(created.status).toBe(201);
    expect(server.output().stdout.split(token as string)).toHaveLength(2);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('keeps sessions across a restart, and a SIGTERM lets the in-flight request finish', async () => {
    const env = {
      CLAWSESSION_ADMIN_TOKEN: randomBytes(32).toString('base64url'),
      CLAWSESSION_STORE: 'sqlite:./restart/s.db',
    };
    const auth = { authorization: `Bearer ${env.CLAWSESSION_ADMIN_TOKEN}` };
    const first = await startServer(env);
    const created = await fetch(`${first.url}/v1/sessions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'alice', data: { cart: ['a'] } }),
    });
    const { token } = (await created.json()) as { token: string };

    // Send headers and half a body, stop the server, then finish the body: the request must complete.
    const body = JSON.stringify({ token });
    const inflight = request(`${first.url}/v1/sessions/validate`, {
      method: 'POST',
      headers: {
        ...auth,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      },
    });
    const response = once(inflight, 'response');
    inflight.write(body.slice(0, 10));
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
    first.child.kill('SIGTERM');
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
    inflight.end(body.slice(10));
    const [res] = (await response) as [import('node:http').IncomingMessage];
    expect(res.statusCode).toBe(200);
    res.resume();
    expect(await first.exited).toBe(0);

    const second = await startServer(env);
    const validated = await fetch(`${second.url}/v1/sessions/validate`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body,
    });
    expect(validated.status).toBe(200);
    expect(((await validated.json()) as { session: { data: unknown } }).session.data).toEqual({
      cart: ['a'],
    });
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  });

  it('reads a YAML config file, with environment variables and then flags taking precedence', async () => {
    const fileToken = randomBytes(32).toString('base64url');
    writeFileSync(
      join(dir, 'gateway.yaml'),
      `store: "memory:"\nport: 1\nidleTimeout: 5m\nadminToken: "${fileToken}"\n`,
    );
    const server = run(['serve', '--config', 'gateway.yaml', '--port', '0'], {
      CLAWSESSION_PORT: '2',
    });
    const [, url] = await server.waitFor(/listening on (http:\/\/\S+)/);
    expect(server.output().stdout).toContain('store memory:');
    expect(server.output().stdout).not.toContain('admin token');
    const created = await fetch(`${url}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fileToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'u' }),
    });
    const { session } = (await created.json()) as {
      session: { createdAt: string; idleExpiresAt: string };
    };
    expect(Date.parse(session.idleExpiresAt) - Date.parse(session.createdAt)).toBe(5 * 60_000);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('refuses bad configuration with exit code 2 and a message naming the field', async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['serve'], { CLAWSESSION_PORT: 'eighty' }, /port \(CLAWSESSION_PORT\)/],
      [
        ['serve'],
        { CLAWSESSION_IDLE_TIMEOUT: '30 minutes' },
        /idleTimeout \(CLAWSESSION_IDLE_TIMEOUT\)/,
      ],
      [['serve'], { CLAWSESSION_ADMIN_TOKEN: 'short' }, /adminToken .*too weak/],
      [
        ['serve'],
        { CLAWSESSION_ADMIN_TOKEN: 'passwordpassword' },
        /adminToken \(CLAWSESSION_ADMIN_TOKEN\): is too weak.*openssl rand -base64 32/,
      ],
      [['serve'], { CLAWSESSION_STORE: 'mongodb://x' }, /unsupported store URL/],
      [['serve'], { CLAWSESSION_ENCRYPTION_KEYS: 'k1:dG9vc2hvcnQ=' }, /must be 32 bytes/],
      [['serve', '--config', 'missing.yaml'], {}, /cannot read config file missing\.yaml/],
      [['serve', '--bogus'], {}, /unknown option '--bogus'/],
      [['frobnicate'], {}, /unknown command 'frobnicate'/],
    ];
    // All at once: nine process start-ups one after another outlast the timeout on a loaded machine.
    await Promise.all(
      cases.map(async ([args, env, message]) => {
        const cli = run(args, env);
        expect(await cli.exited, `${args.join(' ')} ${JSON.stringify(env)}`).toBe(2);
        expect(cli.output().stderr).toMatch(message);
        expect(cli.output().stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
      }),
    );
  }, 60_000);
});
