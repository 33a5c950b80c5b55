/**
 * One directory scan for every backend: the agent's own files (the ownership header), the original
 * agent's files at the agent's paths (adoptable), and every other file at those paths or named like them
 * (foreign: reported, never touched). Nothing is followed through a symlink and nothing large is read.
 */
import { posix } from 'node:path';
import { macsIn, type OriginalRead } from '../../core/original.js';
import { readOwnership } from '../../core/ownership.js';
import type { NicConfig, OtherFile, OwnedFile } from '../../core/types.js';
import { TEMP_SUFFIX, type DirEntry, type HostFs } from '../host-fs.js';
import type { OwnedScan } from './backend.js';

/** A configuration file holds one NIC: anything larger is not the agent's, nor the original's. */
export const MAX_FILE_BYTES = 64 * 1024;

export interface ScanFormat {
  dir: string;
  /** The `multinicN` name of one of the agent's file names, else null. */
  nameOf(fileName: string): string | null;
  /** Reads back one of the agent's own files. */
  parse(content: string): NicConfig | null;
  /** Reads a file in the original agent's shape; absent for a format the original never wrote. */
  readOriginal?: (content: string, name: string) => OriginalRead;
}

export interface ScanOptions {
  /** ADOPT_UNMANAGED: take over files in the original agent's shape. */
  adopt: boolean;
}

const LOOKS_LIKE_OURS = /multinic/i;

export async function scanDir(fs: HostFs, format: ScanFormat, options: ScanOptions): Promise<OwnedScan> {
  const files: OwnedFile[] = [];
  const others: OtherFile[] = [];
  for (const entry of await fs.list(format.dir)) {
    if (entry.endsWith(TEMP_SUFFIX)) continue;
    const name = format.nameOf(entry);
    if (name === null && !LOOKS_LIKE_OURS.test(entry)) continue;
    const path = posix.join(format.dir, entry);
    const found = await fs.readEntry(path, MAX_FILE_BYTES);
    if (found === null) continue;
    if (found.kind !== 'file') {
      others.push({ path, name, original: null, reason: notAFile(found), macs: [], content: '' });
      continue;
    }
    const { content } = found;
    const owner = name === null ? null : readOwnership(content);
    if (name !== null && owner !== null) {
      files.push({ path, name, config: format.parse(content), content, ...owner });
      continue;
    }
    const other = { path, name, content, macs: macsIn(content) };
    if (name === null) others.push({ ...other, original: null, reason: 'not a path multinic-agent writes' });
    else others.push({ ...other, ...adoption(format, content, name, options) });
  }
  const reservedNames = others.flatMap((other) => (other.name === null ? [] : [other.name]));
  return { files, reservedNames, others };
}

function adoption(format: ScanFormat, content: string, name: string, options: ScanOptions) {
  if (format.readOriginal === undefined)
    return { original: null, reason: 'not written by multinic-agent (the original never wrote this format)' };
  const read = format.readOriginal(content, name);
  if (!read.ok) return { original: null, reason: read.reason };
  if (!options.adopt)
    return {
      original: null,
      reason: "in the original agent's shape, but adoption is off (ADOPT_UNMANAGED=false)",
    };
  return { original: read.config, reason: '' };
}

function notAFile(found: Exclude<DirEntry, { kind: 'file' }>): string {
  if (found.kind === 'symlink') return 'a symlink (never followed)';
  if (found.kind === 'not_a_file') return 'not a regular file';
  return `larger than ${MAX_FILE_BYTES} bytes (${found.size})`;
}
