/*
 * Whether the gateway's memory stays flat under steady load. The gateway
 * (default config, info logging to /dev/null, Redis store) runs in a process
 * of its own; two autocannon processes load it at a fixed rate, one with
 * GET /auth/session and a signed-in cookie, one with GET /healthz; every
 * SOAK_SAMPLE_SECONDS the gateway reports its RSS and heap over IPC. After a
 * warm-up, the medians of the first and the last window are compared, and
 * the least-squares slope over everything after the warm-up says how fast
 * memory grows.
 *
 *   npm run bench:soak                  (600 s)
 *   SOAK_SECONDS=60 npm run bench:soak
 *
 * Writes bench/results/soak.json (machine, versions, settings, every sample)
 * and bench/results/soak.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { type LoadResult, load } from './http/load.js';
import { startServerChild } from './http/server-child.js';
import { BENCH_RUN, removeRunData, USER } from './http/variants.js';
import { machine, median, versions } from './report.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const SESSION_RATE = Number(process.env.SOAK_SESSION_RATE ?? 800);
const HEALTH_RATE = Number(process.env.SOAK_HEALTH_RATE ?? 200);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 10);
const SAMPLE_SECONDS = Number(process.env.SOAK_SAMPLE_SECONDS ?? 5);
/** A minute each, as the issue asks; a fifth of the run each when the run is shorter than five minutes. */
const WINDOW_SECONDS = Math.min(60, SECONDS / 5);
/** Last-window median over first-window median at most this: flat. */
const FLAT_RATIO = 1.05;
const MB = 2 ** 20;

interface Sample {
  seconds: number;
  rssMB: number;
  heapUsedMB: number;
  externalMB: number;
}

interface Trend {
  firstWindowMB: number;
  lastWindowMB: number;
  ratio: number;
  slopeMBPerMinute: number;
  maxMB: number;
}

/** Least-squares slope of `y` over `x`. */
function slope(x: number[], y: number[]): number {
  const meanX = x.reduce((sum, v) => sum + v, 0) / x.length;
  const meanY = y.reduce((sum, v) => sum + v, 0) / y.length;
  let covariance = 0;
  let variance = 0;
  for (let i = 0; i < x.length; i++) {
    covariance += ((x[i] as number) - meanX) * ((y[i] as number) - meanY);
    variance += ((x[i] as number) - meanX) ** 2;
  }
  return covariance / variance;
}

/** The trend of one figure over the samples after the warm-up window. */
function trend(samples: Sample[], figure: (sample: Sample) => number): Trend {
  const measured = samples.filter((s) => s.seconds >= WINDOW_SECONDS);
  const first = measured.filter((s) => s.seconds < 2 * WINDOW_SECONDS).map(figure);
  const last = measured.filter((s) => s.seconds >= SECONDS - WINDOW_SECONDS).map(figure);
  const firstWindowMB = median(first);
  const lastWindowMB = median(last);
  return {
    firstWindowMB,
    lastWindowMB,
    ratio: lastWindowMB / firstWindowMB,
    slopeMBPerMinute: slope(
      measured.map((s) => s.seconds / 60),
      measured.map(figure),
    ),
    maxMB: Math.max(...measured.map(figure)),
  };
}

async function signIn(url: string): Promise<string> {
  const login = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(USER),
  });
  if (login.status !== 200) throw new Error(`login answered ${login.status}`);
  return (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

async function main() {
  const gateway = await startServerChild('gateway', 'redis', {
    CLAWSESSION_BENCH_RUN: BENCH_RUN,
  });
  const samples: Sample[] = [];
  let loads: { session: LoadResult; health: LoadResult };
  try {
    const cookie = await signIn(gateway.url);
    const started = performance.now();
    const running = Promise.all([
      load({
        url: `${gateway.url}/auth/session`,
        headers: { cookie },
        connections: CONNECTIONS,
        seconds: SECONDS,
        overallRate: SESSION_RATE,
      }),
      load({
        url: `${gateway.url}/healthz`,
        connections: CONNECTIONS,
        seconds: SECONDS,
        overallRate: HEALTH_RATE,
      }),
    ]);
    let done = false;
    const finish = () => {
      done = true;
    };
    running.then(finish, finish);
    for (let next = 0; !done; next += SAMPLE_SECONDS) {
      await Promise.race([sleep(Math.max(0, started + next * 1000 - performance.now())), running]);
      if (done) break;
      const memory = await gateway.memory();
      samples.push({
        seconds: (performance.now() - started) / 1000,
        rssMB: memory.rss / MB,
        heapUsedMB: memory.heapUsed / MB,
        externalMB: memory.external / MB,
      });
    }
    const [session, health] = await running;
    loads = { session, health };
  } finally {
    await gateway.close();
    await removeRunData();
  }
  for (const [route, result] of Object.entries(loads))
    if (result.non2xx > 0 || result.errors > 0)
      throw new Error(`${route}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
  writeReport(
    samples,
    loads,
    trend(samples, (s) => s.rssMB),
    trend(samples, (s) => s.heapUsedMB),
  );
}

function writeReport(
  samples: Sample[],
  loads: Record<string, LoadResult>,
  rss: Trend,
  heapUsed: Trend,
) {
  const report = {
    date: new Date().toISOString(),
    machine: machine(),
    versions: versions(),
    settings: {
      seconds: SECONDS,
      sessionRate: SESSION_RATE,
      healthRate: HEALTH_RATE,
      connections: CONNECTIONS,
      sampleSeconds: SAMPLE_SECONDS,
      warmUpSeconds: WINDOW_SECONDS,
      windowSeconds: WINDOW_SECONDS,
      flatRatio: FLAT_RATIO,
    },
    loads,
    rss,
    heapUsed,
    flat: rss.ratio <= FLAT_RATIO,
    samples,
  };
  const results = new URL('./results/', import.meta.url);
  mkdirSync(results, { recursive: true });
  writeFileSync(new URL('soak.json', results), `${JSON.stringify(report, null, 2)}\n`);
  const mb = (value: number) => value.toFixed(1);
  const row = (name: string, t: Trend) =>
    `| ${name} | ${mb(t.firstWindowMB)} | ${mb(t.lastWindowMB)} | **${t.ratio.toFixed(3)}** | ${t.slopeMBPerMinute.toFixed(3)} | ${mb(t.maxMB)} |`;
  const rate = (result: LoadResult) => result.requestsPerSecond.toFixed(0);
  const table = [
    `Measured ${report.date.slice(0, 10)} on ${report.machine.cpus} × ${report.machine.cpu}, Node ${process.version}; the gateway (default config, info logging, Redis store) for ${SECONDS} s at ${rate(loads.session as LoadResult)} req/s of GET /auth/session with a cookie and ${rate(loads.health as LoadResult)} req/s of GET /healthz (autocannon, ${CONNECTIONS} connections each), sampled every ${SAMPLE_SECONDS} s. Windows of ${WINDOW_SECONDS} s: the first after a warm-up of as long, and the last; slope by least squares over all samples after the warm-up.`,
    '',
    '| memory | first window MB | last window MB | last / first | slope MB/min | max MB |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    row('RSS', rss),
    row('heap used', heapUsed),
    '',
    `RSS ${report.flat ? 'flat' : 'not flat'} (last / first ≤ ${FLAT_RATIO}).`,
  ].join('\n');
  writeFileSync(new URL('soak.md', results), `${table}\n`);
  console.log(table);
}

await main();
