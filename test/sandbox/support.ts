import { describe, it } from 'vitest';
import {
  networkManagerSupport,
  sandboxSupport,
  type SandboxSupport,
} from '../../src/demo/sandbox-support.js';

export { networkManagerSupport, sandboxSupport, type SandboxSupport };

/**
 * describe() for tests that need a sandbox. Without the prerequisites the suite is skipped with a
 * warning that says why, except on CI (CI=true), where it fails: CI must provide what its tests need.
 */
export function describeSandbox(name: string, body: () => void): void {
  describeWith(sandboxSupport(), name, body);
}

/** describeSandbox() for tests that need NetworkManager in the sandbox: skipped (or failed on CI) without it. */
export function describeNetworkManagerSandbox(name: string, body: () => void): void {
  describeWith(networkManagerSupport(), name, body);
}

function describeWith(support: SandboxSupport, name: string, body: () => void): void {
  if (support.ok) {
    describe(name, body);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('has what a sandbox needs', () => {
        throw new Error(`sandbox unavailable on CI: ${support.reason}`);
      });
    });
  } else {
    console.warn(`skipping "${name}": sandbox unavailable: ${support.reason}`);
    describe.skip(name, body);
  }
}
