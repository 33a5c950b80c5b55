/**
 * This machine's processes as /proc shows them: what a test checks to prove that a sandbox, a demo or a
 * fleet left nothing running behind it.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Pids (outside) of every process in the pid namespace of `pid`. */
export function pidsInNamespaceOf(pid: number): number[] {
  const ns = readlinkSync(`/proc/${pid}/ns/pid`);
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((other) => {
      try {
        return readlinkSync(`/proc/${other}/ns/pid`) === ns;
      } catch {
        return false; // exited meanwhile
      }
    });
}

/** Processes (other than this one) whose command line mentions `text`, as `<pid>: <command line>`. */
export function processesMentioning(text: string): string[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid)
    .flatMap((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
        return cmdline.includes(text) ? [`${pid}: ${cmdline}`] : [];
      } catch {
        return [];
      }
    });
}
