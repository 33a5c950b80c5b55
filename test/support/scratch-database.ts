// Kept apart from agent-harness.ts, which the bench imports too: this one needs vitest's hooks, and
// vitest cannot be imported outside a test run.
import { afterEach, beforeEach } from 'vitest';
import type { LiveLink } from '../../src/core/types.js';
import { startHarness, type Harness } from './agent-harness.js';
import { createTestDatabase, type TestDatabase } from './mariadb.js';

/**
 * A test file's database (one per test, dropped after it) and the harness it starts: `scratch.db` in a
 * test, `scratch.start(...)` for the harness, closed after the test.
 */
export function useScratchDatabase(label: string): {
  readonly db: TestDatabase;
  start(links: LiveLink[], env?: Record<string, string>): Promise<Harness>;
} {
  let db: TestDatabase | undefined;
  let harness: Harness | undefined;
  beforeEach(async () => {
    db = await createTestDatabase(label);
  });
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
    await db?.drop();
  });
  return {
    get db() {
      if (db === undefined) throw new Error('the scratch database exists only inside a test');
      return db;
    },
    async start(links, env = {}) {
      if (db === undefined) throw new Error('the scratch database exists only inside a test');
      harness = await startHarness(db, links, env);
      return harness;
    },
  };
}
