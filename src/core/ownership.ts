/**
 * The header of every file the agent writes: the first line marks the file as the agent's own, the second
 * records the file format and the row the file configures, so that ownership survives a restart and a
 * row the agent can no longer read (a bad MAC, say) still holds its NIC instead of orphaning it.
 *
 *   # Managed by multinic-agent: do not edit, changes are overwritten.
 *   # multinic-agent format=2 row=5
 *
 * Both lines are comments in every format the agent writes (netplan YAML, ifcfg shell, keyfile).
 */

/** First line of every file the agent writes; a file without it is never touched. */
export const OWNERSHIP_HEADER = '# Managed by multinic-agent: do not edit, changes are overwritten.';

/** The format written now. Format 1 (before row ids) had the first line only. */
export const FILE_FORMAT = 2;

const MARKER_PREFIX = '# multinic-agent ';
const MARKER_RE = /^# multinic-agent format=([0-9]{1,3}) row=([0-9]{1,10})$/;

/** What the header of an owned file says. */
export interface Ownership {
  /** 1: the header line only (files of earlier versions); 2 and later carry the row id. */
  format: number;
  /** `multi_interface.id` of the row the file configures; null for format 1 or an unreadable marker. */
  rowId: number | null;
}

/** The two header lines for a file configuring row `rowId`, each ending in a newline. */
export function renderHeader(rowId: number): string {
  if (!Number.isSafeInteger(rowId) || rowId < 0) throw new RangeError(`row id ${rowId} is not an id`);
  return `${OWNERSHIP_HEADER}\n${MARKER_PREFIX}format=${FILE_FORMAT} row=${rowId}\n`;
}

export function isOwned(content: string): boolean {
  return content.startsWith(`${OWNERSHIP_HEADER}\n`);
}

/**
 * The ownership of a file, or null when the agent does not own it. A second line that starts like the
 * marker but does not parse reads as owned with no row id: the file is kept and claimed by its MAC, never
 * removed for it.
 */
export function readOwnership(content: string): Ownership | null {
  if (!isOwned(content)) return null;
  const second = content.slice(OWNERSHIP_HEADER.length + 1).split('\n', 1)[0] ?? '';
  if (!second.startsWith(MARKER_PREFIX)) return { format: 1, rowId: null };
  const match = MARKER_RE.exec(second);
  if (match === null) return { format: FILE_FORMAT, rowId: null };
  const rowId = Number(match[2]);
  return { format: Number(match[1]), rowId: Number.isSafeInteger(rowId) ? rowId : null };
}
