import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

// The README's code blocks are run as written, against the built package, so they stay true.
const readme = readFileSync('README.md', 'utf8');
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] as string);
// Each `clawsession` or `clawsession/<entry>` import goes to the built file that package.json exports it as.
const entryPoints: Record<string, { import: string }> = JSON.parse(
  readFileSync('package.json', 'utf8'),
).exports;
function builtFile(subpath = ''): string {
  const entry = entryPoints[`.${subpath}`];
  if (!entry) throw new Error(`package.json exports no clawsession${subpath}`);
  return resolve(entry.import);
}
// Inside the project, so that the examples' framework imports (express, hono…) resolve.
mkdirSync('node_modules/.cache', { recursive: true });
const dir = mkdtempSync(join(resolve('node_modules/.cache'), 'clawsession-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runExample(index: number) {
  const file = join(dir, `example-${index}.mjs`);
  writeFileSync(
    file,
    (examples[index] as string).replace(
      /from 'clawsession(\/[\w-]+)?'/g,
      (_, subpath?: string) => `from '${builtFile(subpath)}'`,
    ),
  );
  return promisify(execFile)(process.execPath, [file], { cwd: dir });
}

describe('README examples', () => {
  it('has the examples this test expects', () => {
    expect(examples).toHaveLength(9);
  });

  it('the backend example opens a backend and registers one of its own', async () => {
    const { stdout } = await runExample(2);
    expect(stdout.trim().split('\n')).toEqual(['memory false true', 'memory']);
  });

  it('the library quick start runs and prints what its comments say', async () => {
    const { stdout } = await runExample(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe('null');
    expect(lines[1]).toMatch(/cart: \[ 'sku-(1|2)', 'sku-(1|2)' ], visits: 1/);
    expect(lines[2]).toBe('1 alice');
  });

  it('the encryption example runs', async () => {
    await expect(runExample(1)).resolves.toMatchObject({ stderr: '' });
  });

  it('the node:http example sets a secure cookie and refuses a request without its CSRF token', async () => {
    const { stdout } = await runExample(3);
    expect(stdout.trim().split('\n')).toEqual([
      '__Host-cs_session=…; Path=/; HttpOnly; Secure; SameSite=Lax',
      '403 ERR_CSRF',
      "[ 'book' ]",
    ]);
  });

  it('the Express example regenerates on a privilege change, with the token in a form field', async () => {
    const { stdout } = await runExample(4);
    expect(stdout.trim()).toBe("{ role: 'admin' } true");
  });

  it('the Fastify example refuses a cross-site login and accepts a same-site one', async () => {
    const { stdout } = await runExample(5);
    expect(stdout.trim().split('\n')).toEqual(['403', "{ userId: 'alice' }"]);
  });

  it('the Hono example runs in development mode and warns about it', async () => {
    const { stdout, stderr } = await runExample(6);
    expect(stdout.trim().split('\n')).toEqual(['true', "{ userId: 'alice' }"]);
    expect(stderr).toContain('CLAWSESSION_INSECURE_COOKIE');
  });

  it('the tokens example verifies an access token and rotates a refresh token', async () => {
    const { stdout } = await runExample(7);
    expect(stdout.trim().split('\n')).toEqual(["[ 'orders:read' ]", 'true 1']);
  });

  it('the gateway example logs in, proxies with a verified context and refuses a forged header', async () => {
    const { stdout } = await runExample(8);
    expect(stdout.trim().split('\n')).toEqual([
      "{ user: 'alice', roles: [ 'buyer' ] }",
      '401 ERR_UNAUTHORIZED',
      '401',
    ]);
  });
});
