/** The image's entry point, as a tree's Dockerfile writes it: the one place the shipped flags are set. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The exec-form ENTRYPOINT of `root`/Dockerfile: ["node", ...flags, "/app/<entry>"]. */
export function entrypoint(root: string): { flags: string[]; entry: string; text: string } {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const match = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile);
  if (match?.[1] === undefined) throw new Error(`${root}/Dockerfile has no exec-form ENTRYPOINT`);
  const argv = JSON.parse(match[1]) as string[];
  const last = argv.at(-1);
  if (argv[0] !== 'node' || last === undefined || !last.startsWith('/app/')) {
    throw new Error(`ENTRYPOINT is not node [flags] /app/<entry>: ${match[1]}`);
  }
  // /app is the image's WORKDIR: the entry point relative to the tree.
  return { flags: argv.slice(1, -1), entry: join(root, last.slice('/app/'.length)), text: argv.join(' ') };
}
