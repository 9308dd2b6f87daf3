import { createClient } from 'redis';
import { RecordTokenDenylist } from '../src/tokens/index.js';
import { RedisRecordStore } from '../src/stores/index.js';
const N = 20000;
const client = createClient({ url: 'redis://127.0.0.1:6379', disableOfflineQueue: true });
await client.connect();
const prefix = 'cs:bench:deny:';
const records = await RedisRecordStore.connect({ url: 'redis://127.0.0.1:6379', prefix: 'cs:bench:rec:' });
const record = new RecordTokenDenylist(records);
const now = Date.now();
for (let i = 0; i < 100; i++) { await client.set(`${prefix}j${i}`, '1', { PX: 600000 }); await record.add(`j${i}`, now + 600000, now); }
async function run(name: string, has: (jti: string) => Promise<unknown>) {
  const t0 = performance.now(); const c0 = process.cpuUsage();
  const inflight = 50; let next = 0;
  await Promise.all(Array.from({ length: inflight }, async () => { while (next < N) { const i = next++; await has(`j${i % 200}`); } }));
  const c = process.cpuUsage(c0); const ms = performance.now() - t0;
  console.log(name, Math.round(N / ms * 1000), 'ops/s', ((c.user + c.system) / N).toFixed(1), 'µs CPU/op');
}
for (let r = 0; r < 3; r++) {
  await run('redis EXISTS (old RedisTokenDenylist)', (j) => client.exists(prefix + j));
  await run('RecordTokenDenylist on RedisRecordStore', (j) => record.has(j, Date.now()));
}
await client.close(); await records.close();
