/** Files the package ships next to dist/ (sql/, sandbox/), found from the module that needs them. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The absolute path of `relative` in the package, looked for upwards from `moduleUrl` (import.meta.url):
 * modules run from src/ (tests), dist/ (the CLI) and from build caches under node_modules/.cache.
 */
export function packageFile(moduleUrl: string, relative: string): string {
  const from = dirname(fileURLToPath(moduleUrl));
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`${relative} not found above ${from}`);
  }
}
