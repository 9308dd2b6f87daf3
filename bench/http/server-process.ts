/*
 * One bench server in a process of its own, so that no server pays for
 * another's event loop and the load generator runs apart from all of them.
 *   node --import tsx bench/http/server-process.ts <variant> <backend>
 * Tells its parent `{ url, paths }` once listening; answers 'memory' with
 * its `process.memoryUsage()`; closes on 'close'.
 */
import { VARIANTS } from './variants.js';

const [name, backend] = process.argv.slice(2) as [keyof typeof VARIANTS, string];
const variant = await VARIANTS[name](backend as never);
process.send?.({ url: variant.url, paths: variant.paths });
process.on('message', async (message) => {
  if (message === 'memory') process.send?.({ memory: process.memoryUsage() });
  if (message !== 'close') return;
  await variant.close();
  process.exit(0);
});
