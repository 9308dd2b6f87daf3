import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createGateway, parseConfig } from '../../src/gateway/index.js';

/**
 * The Grafana dashboard and the Prometheus alert rules in deploy/: promtool
 * accepts the rules and their unit tests pass, every dashboard query parses,
 * and neither names a metric the gateway does not export, so they cannot
 * drift from the code.
 */
const ALERTS = resolve('deploy/prometheus/alerts.yml');
const ALERT_TESTS = resolve('deploy/prometheus/alerts.test.yml');
const DASHBOARD = resolve('deploy/grafana/clawsession.json');
/** `scripts/install-promtool.sh` installs it (the global setup runs it); override with CLAWSESSION_TEST_PROMTOOL. */
const PROMTOOL = process.env.CLAWSESSION_TEST_PROMTOOL ?? 'promtool';
/** The dashboard's data source variable, so that it imports into any Grafana. */
const DATA_SOURCE = '$' + '{datasource}';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-monitoring-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function promtool(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await promisify(execFile)(PROMTOOL, args);
    return stdout + stderr;
  } catch (error) {
    const failure = error as { code?: unknown; stdout?: string; stderr?: string };
    if (failure.code === 'ENOENT')
      throw new Error(
        `${PROMTOOL} is missing: these tests need promtool (Debian's prometheus package); run scripts/install-promtool.sh or set CLAWSESSION_TEST_PROMTOOL`,
      );
    throw new Error(`promtool ${args.join(' ')} failed:\n${failure.stdout}${failure.stderr}`);
  }
}

interface AlertRule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function alertRules(): AlertRule[] {
  const file = parseYaml(readFileSync(ALERTS, 'utf8')) as { groups: { rules: AlertRule[] }[] };
  return file.groups.flatMap((group) => group.rules);
}

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
}

function dashboard(): { uid: string; title: string; panels: Panel[] } {
  return JSON.parse(readFileSync(DASHBOARD, 'utf8'));
}

/** Every string anywhere in `value`. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

/** The gateway's metric names in `texts`: they are all that start with `clawsession_`. */
function metricNames(texts: string[]): Set<string> {
  return new Set(texts.flatMap((text) => text.match(/\bclawsession_[a-zA-Z0-9_]+/g) ?? []));
}

/** What a running gateway exports: each declared metric, and a histogram's series too. */
async function exportedMetricNames(): Promise<Set<string>> {
  const gateway = await createGateway(
    parseConfig({ port: 0, store: 'memory:', logLevel: 'silent', metrics: { port: 0 } }),
  );
  try {
    await gateway.listen();
    const response = await fetch(`${gateway.metricsApp?.listeningOrigin}/metrics`);
    const names = new Set<string>();
    for (const [, name, type] of (await response.text()).matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      names.add(name as string);
      const series = { histogram: ['_bucket', '_sum', '_count'], summary: ['_sum', '_count'] };
      for (const suffix of series[type as keyof typeof series] ?? []) names.add(`${name}${suffix}`);
    }
    return names;
  } finally {
    await gateway.close();
  }
}

describe('the Prometheus alert rules', () => {
  it('pass promtool check rules', async () => {
    const output = await promtool('check', 'rules', ALERTS);
    expect(output).toContain(`SUCCESS: ${alertRules().length} rules found`);
  });

  it('fire when their unit tests say, and only then (promtool test rules)', async () => {
    expect(await promtool('test', 'rules', ALERT_TESTS)).toContain('SUCCESS');
    const tested = new Set(
      [...readFileSync(ALERT_TESTS, 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]),
    );
    expect(alertRules().filter((rule) => !tested.has(rule.alert))).toEqual([]);
  });

  it('each have a severity, a summary and a description', () => {
    for (const rule of alertRules()) {
      expect({ alert: rule.alert, severity: rule.labels?.severity }).toMatchObject({
        severity: expect.stringMatching(/^(page|ticket)$/),
      });
      expect(Object.keys(rule.annotations ?? {}).sort()).toEqual(['description', 'summary']);
    }
  });
});

describe('the Grafana dashboard', () => {
  it('has panels with unique ids, each query on the data source variable', () => {
    const { uid, title, panels } = dashboard();
    expect(uid).toBe('clawsession-gateway');
    expect(title).toBeTruthy();
    expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
    const queried = panels.filter((panel) => panel.type !== 'row');
    expect(queried.length).toBeGreaterThan(10);
    for (const panel of queried) {
      expect({ panel: panel.title, uid: panel.datasource?.uid }).toEqual({
        panel: panel.title,
        uid: DATA_SOURCE,
      });
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(target.datasource?.uid).toBe(DATA_SOURCE);
    }
  });

  it('has only queries that promtool parses', async () => {
    const exprs = dashboard()
      .panels.flatMap((panel) => panel.targets ?? [])
      .map((t) => t.expr);
    // Grafana's variables, as Grafana would fill them in, make each query plain PromQL.
    const rules = exprs.map((expr, i) => ({
      record: `dashboard:query_${i}`,
      expr: expr
        .replaceAll('$__rate_interval', '5m')
        .replaceAll('$job', '.+')
        .replaceAll('$instance', '.+'),
    }));
    const file = join(dir, 'dashboard-queries.yml');
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
    expect(await promtool('check', 'rules', file)).toContain(
      `SUCCESS: ${rules.length} rules found`,
    );
  });
});

describe('the dashboard and the alerts', () => {
  it('name only metrics a running gateway exports', async () => {
    const exported = await exportedMetricNames();
    const inDashboard = metricNames(strings(dashboard()));
    const inAlerts = metricNames(strings(alertRules()));
    expect(inDashboard.size).toBeGreaterThan(15);
    expect(inAlerts.size).toBeGreaterThan(8);
    expect([...inDashboard].filter((name) => !exported.has(name))).toEqual([]);
    expect([...inAlerts].filter((name) => !exported.has(name))).toEqual([]);
  });
});
