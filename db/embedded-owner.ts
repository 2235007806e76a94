import fs from 'node:fs';
import path from 'node:path';

/**
 * Who owns an embedded cluster. A service that starts the cluster writes `DATA_DIR/postgres.owner`
 * naming itself (pid and kernel start time, so a recycled pid is not taken for it) and the postmaster it
 * started. When the service dies by SIGKILL its postmaster lives on; the next start reads this file,
 * sees the owner gone while the very postmaster it recorded still runs, and may stop it. Anything it
 * cannot attribute that way (a live owner, a postmaster it did not record) is left alone.
 */
export interface OwnerRecord {
  servicePid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot; with the pid, unique for the boot. */
  serviceStart: string;
  postgresPid: number;
}

const OWNER_FILE = 'postgres.owner';

/** The kernel's start time of `pid`, or null when it is gone (or a zombie) or there is no /proc. */
function processStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return null;
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

/** True while `pid` runs (a zombie waiting for a reaper that never comes counts as gone). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // Where /proc exists, a zombie (state Z) has exited already; elsewhere trust kill(0).
  return !fs.existsSync('/proc/self/stat') || processStartTime(pid) !== null;
}

export function readOwner(dataRoot: string): OwnerRecord | null {
  try {
    const rec = JSON.parse(fs.readFileSync(path.join(dataRoot, OWNER_FILE), 'utf8')) as OwnerRecord;
    return Number.isInteger(rec.servicePid) && Number.isInteger(rec.postgresPid) && typeof rec.serviceStart === 'string' ? rec : null;
  } catch {
    return null;
  }
}

/** Records this process as the owner of `postgresPid`; written once that postmaster holds the lock. */
export function writeOwner(dataRoot: string, postgresPid: number): void {
  const rec: OwnerRecord = { servicePid: process.pid, serviceStart: processStartTime(process.pid) ?? '', postgresPid };
  const file = path.join(dataRoot, OWNER_FILE);
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(rec)}\n`, { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}

/** Removes the owner record if it still names this process (a newer owner's record is kept). */
export function clearOwner(dataRoot: string): void {
  if (readOwner(dataRoot)?.servicePid === process.pid) fs.rmSync(path.join(dataRoot, OWNER_FILE), { force: true });
}

/** True when the service recorded in `rec` no longer runs (gone, or its pid now belongs to another process). */
export function ownerGone(rec: OwnerRecord): boolean {
  const start = processStartTime(rec.servicePid);
  return start === null || (rec.serviceStart !== '' && start !== rec.serviceStart);
}

/** True when `pid` is a postgres postmaster serving `pgData` (read from its command line). */
export function isPostmasterOf(pid: number, pgData: string): boolean {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const d = argv.indexOf('-D');
    return path.basename(argv[0] ?? '') === 'postgres' && d >= 0 && path.resolve(argv[d + 1] ?? '') === path.resolve(pgData);
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return true;
    await Bun.sleep(50);
  }
  return !pidAlive(pid);
}

/**
 * Stops a postmaster that is not our child: SIGINT (fast shutdown: sessions aborted, a checkpoint, a
 * clean exit), then SIGQUIT (immediate; crash recovery at the next start), then SIGKILL.
 */
export async function stopPostmaster(pid: number, graceMs = 20_000): Promise<void> {
  for (const [signal, wait] of [
    ['SIGINT', graceMs],
    ['SIGQUIT', 5_000],
    ['SIGKILL', 5_000],
  ] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    if (await waitGone(pid, wait)) return;
  }
  throw new Error(`postgres pid ${pid} did not stop`);
}

/** The pid in `pgData/postmaster.pid` when that process still runs: someone serves this cluster. */
export function runningPostmaster(pgData: string): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(pgData, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 && pidAlive(pid) ? pid : null;
  } catch {
    return null;
  }
}
