import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from the compiled file (build/bench/bench/support/paths.js). */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** The agent as shipped: `npm run build` compiles it here (npm run bench does that first). */
export const DIST_CLI = join(REPO, 'dist', 'cli.js');
