/** Memory after a full collection; the bench's children run with --expose-gc so that samples are stable. */
export function collect(): void {
  if (typeof globalThis.gc !== 'function') throw new Error('run node with --expose-gc');
  globalThis.gc();
  globalThis.gc();
}

export function settledMemory(): NodeJS.MemoryUsage {
  collect();
  return process.memoryUsage();
}
