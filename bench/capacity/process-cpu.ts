import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/**
 * Seconds a process has spent on a CPU, from /proc/<pid>/schedstat
 * (nanoseconds, where /proc/<pid>/stat counts 10 ms ticks); null once the
 * process is gone. Counts the process's main thread, which for PostgreSQL
 * (one thread a process) is all of it.
 */
export function cpuSeconds(pid: number): number | null {
  try {
    const [onCpu] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ');
    return Number(onCpu) / 1e9;
  } catch {
    return null;
  }
}

/** CPU seconds of each process, by pid. */
export function cpuByPid(pids: readonly number[]): Map<number, number> {
  const seconds = new Map<number, number>();
  for (const pid of pids) {
    const used = cpuSeconds(pid);
    if (used !== null) seconds.set(pid, used);
  }
  return seconds;
}

/**
 * CPU seconds the processes spent between two readings. A process that
 * started in between counts from zero: its start-up is part of the cost.
 */
export function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, used] of after) total += used - (before.get(pid) ?? 0);
  return total;
}

export interface MachineReading {
  loadAverage: number;
  busyTicks: number;
  totalTicks: number;
}

/** The machine's CPU counters (/proc/stat's first line) and its 1-minute load average. */
export function machineReading(): MachineReading {
  const [, ...fields] =
    readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/) ?? [];
  // user nice system idle iowait irq softirq steal: idle and iowait are the unbusy ones.
  const ticks = fields.slice(0, 8).map(Number);
  const totalTicks = ticks.reduce((sum, tick) => sum + tick, 0);
  return {
    loadAverage: loadavg()[0] ?? 0,
    busyTicks: totalTicks - (ticks[3] ?? 0) - (ticks[4] ?? 0),
    totalTicks,
  };
}

/** The share of all CPUs that was busy between two readings. */
export function busyBetween(before: MachineReading, after: MachineReading): number {
  return (after.busyTicks - before.busyTicks) / (after.totalTicks - before.totalTicks);
}
