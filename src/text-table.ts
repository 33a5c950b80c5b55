/** Plain-text tables for the CLI (`rows list`, the demo): columns padded to their widest cell. */

/** The lines of a table; the first row is the header. Trailing spaces are trimmed. */
export function textTable(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((cells) => cells[i]?.length ?? 0))) ?? [];
  return rows.map((cells) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

/** A row's netplan_success in words: 0 is both "not yet" and "failed", so it says neither. */
export function statusText(netplanSuccess: number | null): string {
  if (netplanSuccess === 1) return 'configured (1)';
  if (netplanSuccess === 0) return 'not configured (0)';
  return `unknown (${String(netplanSuccess)})`;
}
