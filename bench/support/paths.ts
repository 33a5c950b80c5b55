import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);

/**
 * Where the bench is compiled (tsconfig.bench.json): node_modules/.cache/multinic-bench, out of the way of
 * git, ESLint, Prettier and the image, like the e2e suite's build of the agent.
 */
export const OUT_ROOT = join(dirname(here), '..', '..');

/** The repository: the directory holding node_modules. */
export const REPO = here.slice(0, here.lastIndexOf('/node_modules/'));

/** The agent as shipped: `npm run build` compiles it here (npm run bench does that first). */
export const DIST_CLI = join(REPO, 'dist', 'cli.js');
