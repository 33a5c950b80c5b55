/**
 * SPEC §2: a stored node name and this node's name match when they are equal, or equal up to the first
 * dot (`worker-1` and `worker-1.novalocal`). Comparison is case-insensitive, as DNS names are.
 */
export function nodeNameMatches(stored: string, nodeName: string): boolean {
  const a = stored.toLowerCase();
  const b = nodeName.toLowerCase();
  if (a === b) return true;
  return shortName(a) === shortName(b);
}

/** The part of a host name before its first dot. */
export function shortName(name: string): string {
  const dot = name.indexOf('.');
  return dot === -1 ? name : name.slice(0, dot);
}
