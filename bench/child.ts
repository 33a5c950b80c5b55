/**
 * Runs one figure module in a process of its own (fresh heap, --expose-gc), and sends its results to the
 * runner over IPC; run by hand (`node --expose-gc node_modules/.cache/multinic-bench/bench/child.js cycle`)
 * it prints them.
 */
import { formatFigure, type FigureResult } from './support/report.js';

type FigureModule = { run(): Promise<FigureResult | FigureResult[]> };

const modules: Record<string, () => Promise<FigureModule>> = {
  cycle: () => import('./figures/cycle.js'),
  startup: () => import('./figures/startup.js'),
  sandbox: () => import('./figures/sandbox.js'),
  query: () => import('./figures/query.js'),
  fleet: () => import('./figures/fleet.js'),
  recovery: () => import('./figures/recovery.js'),
  soak: () => import('./figures/soak.js'),
  daemon: () => import('./figures/daemon.js'),
};

async function main(name: string | undefined): Promise<void> {
  const load = name === undefined ? undefined : modules[name];
  if (load === undefined) throw new Error(`unknown figure ${String(name)}`);
  const result = await (await load()).run();
  const results = Array.isArray(result) ? result : [result];
  const send = process.send?.bind(process);
  // Run by hand (no IPC channel): print the figures instead.
  if (send === undefined) {
    for (const figure of results) process.stdout.write(`${formatFigure(figure, NaN, 'run by hand')}\n\n`);
    return;
  }
  await new Promise<void>((resolve, reject) =>
    send(results, undefined, {}, (error) => (error === null ? resolve() : reject(error))),
  );
}

main(process.argv[2]).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `figure ${process.argv[2] ?? '?'} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
