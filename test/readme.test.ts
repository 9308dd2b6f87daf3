import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

// The README's code blocks are run as written, against the built package, so they stay true.
const readme = readFileSync('README.md', 'utf8');
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] as string);
const dist = resolve('dist/index.js');
const dir = mkdtempSync(join(tmpdir(), 'clawsession-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runExample(index: number) {
  const file = join(dir, `example-${index}.mjs`);
  writeFileSync(
    file,
    (examples[index] as string).replaceAll("from 'clawsession'", `from '${dist}'`),
  );
  return promisify(execFile)(process.execPath, [file], { cwd: dir });
}

describe('README examples', () => {
  it('has the examples this test expects', () => {
    expect(examples).toHaveLength(2);
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
});
