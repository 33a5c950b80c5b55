/** What the kernel says about another process: CPU time and resident memory, from /proc. */
import { readFile } from 'node:fs/promises';

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on every Linux this runs on. */
const CLOCK_TICKS_PER_S = 100;

/** utime + stime of a process in ms: fields 14 and 15 of /proc/<pid>/stat (after the `(comm)` field). */
export async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14 → index 11, stime field 15 → index 12.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_S;
}

/** A field of /proc/<pid>/status: bytes for the `kB` ones (VmRSS, RssAnon…), else the number (Threads). */
export async function statusField(pid: number, field: string): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+)( kB)?`, 'm').exec(status);
  return match === null ? NaN : Number(match[1]) * (match[2] === undefined ? 1 : 1024);
}

export function processRss(pid: number): Promise<number> {
  return statusField(pid, 'VmRSS');
}
