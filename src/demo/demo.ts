/**
 * `multinic-agent demo`: the agent on a simulated node with an embedded store. As root (and where this
 * machine can make a sandbox) the sandbox demo with virtual NICs and a real systemd-networkd; otherwise,
 * or with --files-only, the files-only demo that shows the agent's plan.
 */
import { runFilesDemo } from './files-demo.js';
import { sandboxSupport } from './sandbox-support.js';

export interface DemoOptions {
  /** Print once and clean up (tests, CI); otherwise watch until stopped. */
  once: boolean;
  /** Port on this machine's 127.0.0.1 for the sandbox demo's health and metrics (0: any free one). */
  port: number;
  out: (line: string) => void;
  /** Resolves when the user stops the demo (Ctrl-C). */
  stopped: Promise<void>;
}

export async function runDemo(options: DemoOptions & { filesOnly: boolean }): Promise<number> {
  if (options.filesOnly) return runFilesDemo(options);
  const support = sandboxSupport();
  if (!support.ok) {
    options.out(`(no sandbox: ${support.reason}; this is the files-only demo. As root, the demo runs the`);
    options.out(
      ' agent on virtual NICs with a real systemd-networkd: npm run demo in a root shell, or sudo npm run demo)',
    );
    options.out('');
    return runFilesDemo(options);
  }
  const { runSandboxDemo } = await import('./sandbox-demo.js');
  return runSandboxDemo(options);
}
