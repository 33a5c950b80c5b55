/** Backends the agent can drive. */
export type BackendKind = 'netplan';

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

/**
 * SPEC §5: the backend for the host's OS. Ubuntu and Debian use netplan; anything else is an explicit
 * error rather than a guess (the RHEL backends are not built yet).
 */
export function backendFor(
  osRelease: Record<string, string>,
): { ok: true; kind: BackendKind } | { ok: false; reason: string } {
  const ids = [osRelease.ID ?? '', ...(osRelease.ID_LIKE ?? '').split(/\s+/)].map((id) => id.toLowerCase());
  if (ids.some((id) => id === 'ubuntu' || id === 'debian')) return { ok: true, kind: 'netplan' };
  const name = osRelease.PRETTY_NAME ?? osRelease.ID ?? 'unknown';
  return {
    ok: false,
    reason: `unsupported host OS "${name}": only netplan hosts (Ubuntu, Debian) are supported so far`,
  };
}
