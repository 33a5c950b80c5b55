/** Backends the agent can drive. */
export type BackendKind = 'netplan' | 'ifcfg' | 'keyfile';

/** Parses the KEY=value lines of os-release(5). */
export function parseOsRelease(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match === null) continue;
    result[match[1]!] = match[2]!.replace(/^(["'])(.*)\1$/, '$2');
  }
  return result;
}

const NETPLAN_IDS = new Set(['ubuntu', 'debian']);
const RHEL_IDS = new Set(['rhel', 'centos', 'rocky', 'almalinux', 'ol', 'fedora']);
/** RHEL 9 deprecated ifcfg: NetworkManager keyfiles from this major version on. */
const KEYFILE_FROM_MAJOR = 9;

/**
 * SPEC §5: the backend for the host's OS. Ubuntu and Debian use netplan; the RHEL family (by ID, or by
 * ID_LIKE naming rhel or fedora) uses ifcfg below major version 9 and NetworkManager keyfiles from 9 on.
 * The host's own ID decides before ID_LIKE. Anything else is an explicit error rather than a guess.
 */
export function backendFor(
  osRelease: Record<string, string>,
): { ok: true; kind: BackendKind } | { ok: false; reason: string } {
  const id = (osRelease.ID ?? '').toLowerCase();
  const like = (osRelease.ID_LIKE ?? '')
    .toLowerCase()
    .split(/\s+/)
    .filter((word) => word !== '');
  const name = osRelease.PRETTY_NAME ?? osRelease.ID ?? 'unknown';
  const family = familyOf([id]) ?? familyOf(like);
  if (family === 'netplan') return { ok: true, kind: 'netplan' };
  if (family === 'rhel') {
    const major = /^([0-9]+)/.exec(osRelease.VERSION_ID ?? '')?.[1];
    if (major === undefined) {
      return {
        ok: false,
        reason: `host OS "${name}" has no numeric VERSION_ID: cannot choose ifcfg or keyfile`,
      };
    }
    return { ok: true, kind: Number(major) >= KEYFILE_FROM_MAJOR ? 'keyfile' : 'ifcfg' };
  }
  return {
    ok: false,
    reason:
      `unsupported host OS "${name}": supported are Ubuntu and Debian (netplan) and RHEL, CentOS, Rocky, ` +
      'AlmaLinux, Oracle Linux and Fedora (ifcfg, keyfile); OS_TYPE forces a backend',
  };
}

function familyOf(ids: readonly string[]): 'netplan' | 'rhel' | undefined {
  if (ids.some((id) => RHEL_IDS.has(id))) return 'rhel';
  if (ids.some((id) => NETPLAN_IDS.has(id))) return 'netplan';
  return undefined;
}
