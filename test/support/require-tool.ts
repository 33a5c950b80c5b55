import { accessSync, constants } from 'node:fs';

/**
 * Whether an external tool a test needs is installed. Outside CI a missing tool skips the test with a
 * visible message; under CI (CI=true) it is a failure, never a skip.
 */
export function haveTool(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    if (process.env.CI === 'true') throw new Error(`CI: required tool ${path} is missing (see .ci/run)`);
    console.warn(`SKIP: ${path} is not installed; tests that need it are skipped`);
    return false;
  }
}
