import { readFileSync } from 'node:fs';

/** CPU time and memory of a process, read from /proc (Linux); undefined elsewhere or once it exited. */
export interface ProcSample {
  /** User + system CPU time, seconds. */
  readonly cpuSec: number;
  /** Resident set now and its peak (VmHWM), bytes. */
  readonly rssBytes: number;
  readonly peakRssBytes: number;
}

/** Clock ticks per second of /proc/<pid>/stat: 100 on every Linux we run on. */
const CLK_TCK = 100;

export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { cpuSec: (utime + stime) / CLK_TCK, rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
  } catch {
    return undefined;
  }
}
