// Preloaded (`node --expose-gc --import`) into a gateway under test: on
// SIGUSR2 it collects garbage fully and prints the heap still in use, so a
// test compares live memory rather than whenever the collector last ran.
process.on('SIGUSR2', () => {
  globalThis.gc();
  process.stderr.write(`heap-probe ${process.memoryUsage().heapUsed}\n`);
});
