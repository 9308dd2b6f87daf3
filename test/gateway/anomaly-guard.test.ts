import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { ANOMALY_DEFAULTS, AnomalyDetector } from '../../src/anomaly/index.js';
import { SessionManager } from '../../src/core/index.js';
import { AnomalyGuard } from '../../src/gateway/anomaly-guard.js';
import { MemoryStore, SqliteRecordStore } from '../../src/stores/index.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-anomaly-guard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the anomaly guard when the record store fails', () => {
  it('lets the request through and logs the failure', async () => {
    const records = new SqliteRecordStore({ filename: join(dir, 'records.db') });
    const manager = new SessionManager({ store: new MemoryStore() });
    const { session } = await manager.create({ userId: 'alice' });
    const config = structuredClone(ANOMALY_DEFAULTS);
    config.rules['network-change'].action = 'revoke';
    const lines: string[] = [];
    const app = Fastify({
      logger: { level: 'error', stream: { write: (line: string) => lines.push(line) } },
    });
    const guard = new AnomalyGuard(new AnomalyDetector({ records, manager, config }), {
      absoluteTimeout: 3_600_000,
      log: () => app.log,
    });
    app.get('/x', async (request) => {
      await guard.checkRequest(request, session);
      return { ok: true };
    });
    await records.close();
    const reply = await app.inject({ method: 'GET', url: '/x', remoteAddress: '203.0.113.5' });
    expect(reply.statusCode).toBe(200);
    expect(lines.map((line) => JSON.parse(line).msg)).toContain(
      'anomaly detection failed; the request goes on unchecked',
    );
    expect(await manager.get({ id: session.id })).not.toBeNull();
    await app.close();
  });
});
