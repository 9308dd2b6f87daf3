import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const services = fileURLToPath(new URL('../.ci/services.sh', import.meta.url));

/**
 * Runs once before any test file: starts whatever server the suite talks to
 * that is not running yet (Redis, PostgreSQL, the 3-master Redis Cluster on
 * 7000-7002), so that `npm test` passes by itself and no test file races
 * another to start one. A server that cannot be started stops the run here,
 * with what the start script said, instead of failing tests one by one.
 */
export default async function startServices(): Promise<void> {
  try {
    await promisify(execFile)(services, [], { timeout: 120_000 });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(
      `the test suite needs Redis (6379), PostgreSQL (5432) and a Redis Cluster (7000-7002), and .ci/services.sh could not start them all:\n${stdout}${stderr}`,
    );
  }
}
