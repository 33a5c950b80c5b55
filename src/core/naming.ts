import type { DesiredNic, LiveLink, NamedNic, OwnedFile } from './types.js';

/** SPEC §4: at most ten managed NICs. */
export const MAX_NICS = 10;
const NAME_RE = /^multinic[0-9]$/;

export function isManagedName(name: string): boolean {
  return NAME_RE.test(name);
}

export interface Naming {
  named: NamedNic[];
  /** NICs that found no free name, in id order. */
  overflow: DesiredNic[];
}

/**
 * SPEC §4, the one place names are assigned. A MAC keeps the N of its owned file, else of its live
 * `multinicN` link; a new MAC takes the lowest N free in files, live names and this pass. Input is walked
 * in id order, so two new NICs in one cycle never share a name and the lowest ids are served first.
 */
export function assignNames(
  nics: readonly DesiredNic[],
  files: readonly OwnedFile[],
  links: readonly LiveLink[],
  reservedNames: readonly string[],
): Naming {
  // Files win over live names (the file is what survives a reboot); of two files, the lower name.
  const kept = new Map<string, string>();
  const byName = [...files].sort((a, b) => a.name.localeCompare(b.name));
  for (const file of byName)
    if (file.config !== null && !kept.has(file.config.mac)) kept.set(file.config.mac, file.name);
  for (const link of links)
    if (isManagedName(link.name) && !kept.has(link.mac)) kept.set(link.mac, link.name);
  const taken = new Set<string>([
    ...reservedNames,
    ...files.map((file) => file.name),
    ...links.filter((link) => isManagedName(link.name)).map((link) => link.name),
  ]);
  const assigned = new Set<string>();
  const named: NamedNic[] = [];
  const overflow: DesiredNic[] = [];
  for (const nic of [...nics].sort((a, b) => a.id - b.id)) {
    const own = kept.get(nic.mac);
    const name = own !== undefined && !assigned.has(own) ? own : lowestFree(taken, assigned);
    if (name === null) {
      overflow.push(nic);
      continue;
    }
    assigned.add(name);
    named.push({ ...nic, name });
  }
  return { named, overflow };
}

function lowestFree(taken: ReadonlySet<string>, assigned: ReadonlySet<string>): string | null {
  for (let n = 0; n < MAX_NICS; n += 1) {
    const name = `multinic${n}`;
    if (!taken.has(name) && !assigned.has(name)) return name;
  }
  return null;
}
