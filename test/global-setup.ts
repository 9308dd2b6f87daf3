import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));

/**
 * Runs once before any test file: starts whatever server the suite talks to
 * that is not running yet (Redis, PostgreSQL, the 3-master Redis Cluster on
 * 7000-7002, NATS with JetStream, RabbitMQ) and installs the browser the e2e tests drive and the promtool
 * the alert rule tests run, so that `npm test` passes by itself and no test
 * file races another to start one. What cannot be started or installed stops
 * the run here, saying what is missing.
 */
export default async function prepareTestMachine(): Promise<void> {
  await step(
    '.ci/services.sh',
    'the test suite needs Redis (6379), PostgreSQL (5432), a Redis Cluster (7000-7002), NATS with JetStream (4222) and RabbitMQ (5672), and .ci/services.sh could not start them all',
  );
  await step(
    'scripts/install-chromium.sh',
    "the browser tests need Debian's chromium, and scripts/install-chromium.sh could not install it",
  );
  await step(
    'scripts/install-promtool.sh',
    "the alert rule tests need promtool (Debian's prometheus package), and scripts/install-promtool.sh could not install it",
  );
}

async function step(path: string, failure: string): Promise<void> {
  try {
    await run(script(path), [], { timeout: 300_000 });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`${failure}:\n${stdout}${stderr}`);
  }
}
