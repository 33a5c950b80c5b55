/** What a figure hands back to the runner: one line per measured value, each next to its target. */
export type Verdict = 'PASS' | 'MISS' | 'INFO' | 'SKIP';

export interface Line {
  label: string;
  value: string;
  /** The target, or '' for a figure that is only reported. */
  target: string;
  verdict: Verdict;
}

export interface FigureResult {
  /** The figure number; '3b' for a comparison run of figure 3. */
  id: string;
  title: string;
  lines: Line[];
  /** How it was measured, and anything a reader needs to interpret the numbers. */
  notes: string[];
}

export function line(label: string, value: string, target: string, ok: boolean): Line {
  return { label, value, target, verdict: ok ? 'PASS' : 'MISS' };
}

export function info(label: string, value: string): Line {
  return { label, value, target: '', verdict: 'INFO' };
}

export function skip(label: string, reason: string): Line {
  return { label, value: reason, target: '', verdict: 'SKIP' };
}

/** The figure as printed: a title, aligned columns, then the notes. */
export function formatFigure(result: FigureResult, seconds: number, context: string): string {
  const labelWidth = Math.max(...result.lines.map((l) => l.label.length), 10);
  const valueWidth = Math.max(...result.lines.map((l) => l.value.length), 6);
  const targetWidth = Math.max(...result.lines.map((l) => l.target.length), 6);
  const out = [`[${result.id}] ${result.title}  (${seconds.toFixed(1)} s, ${context})`];
  for (const l of result.lines) {
    const target = l.target === '' ? '' : `target ${l.target}`;
    out.push(
      `    ${l.label.padEnd(labelWidth)}  ${l.value.padStart(valueWidth)}  ${target.padEnd(targetWidth + 7)}  ${l.verdict}`,
    );
  }
  for (const note of result.notes) out.push(`      - ${note}`);
  return out.join('\n');
}
