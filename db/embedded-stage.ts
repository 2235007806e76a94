import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runningPostmaster } from './embedded-owner.ts';

/**
 * Clusters staged outside their DATA_DIR. Run as root, Postgres runs as the `postgres` user, who
 * cannot enter a 0700 DATA_DIR (any `mktemp -d`); such a cluster lives under STAGE_ROOT instead, with
 * `DATA_DIR/postgres.location` pointing at it and `cluster-<key>.owner` beside it naming its DATA_DIR.
 * Those two records let a later start tell a leftover (its DATA_DIR deleted) from a cluster in use.
 */
export const STAGE_ROOT = '/var/lib/lora-artifacts';

const POINTER = 'postgres.location';

/** Where the cluster of `dataRoot` is staged (same DATA_DIR, same place: restarts find it again). */
export function stagedClusterPath(dataRoot: string, root = STAGE_ROOT): string {
  const key = createHash('sha256').update(fs.realpathSync(dataRoot)).digest('hex').slice(0, 16);
  return path.join(root, `cluster-${key}`);
}

/**
 * Records both directions before the cluster folder exists, so a concurrent sweep never sees the
 * folder without its owner: the pointer in DATA_DIR first, then the owner file beside the cluster.
 */
export function recordStagedCluster(dataRoot: string, pgData: string): void {
  fs.mkdirSync(path.dirname(pgData), { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(dataRoot, POINTER), `${pgData}\n`);
  fs.writeFileSync(`${pgData}.owner`, `${fs.realpathSync(dataRoot)}\n`, { mode: 0o644 });
}

/** The cluster folder `dataRoot` points at, if it points anywhere. */
export function pointedCluster(dataRoot: string): string | null {
  try {
    return fs.readFileSync(path.join(dataRoot, POINTER), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** Deletes a staged cluster and its owner file (the caller has stopped its Postgres). */
export function removeStagedCluster(pgData: string): void {
  fs.rmSync(pgData, { recursive: true, force: true });
  fs.rmSync(`${pgData}.owner`, { force: true });
}

/**
 * Removes staged clusters whose DATA_DIR is gone or no longer points at them and that no live
 * Postgres serves. A cluster without an owner file (staged by an older version) cannot be attributed:
 * it is kept and counted. `keep` is the cluster the caller is about to use.
 */
export function sweepStagedClusters(options: { root?: string; keep?: string; log?: (line: string) => void } = {}): {
  removed: string[];
  unattributed: number;
} {
  const root = options.root ?? STAGE_ROOT;
  const removed: string[] = [];
  let unattributed = 0;
  let entries: string[];
  try {
    entries = fs.readdirSync(root);
  } catch {
    return { removed, unattributed };
  }
  for (const name of entries) {
    if (!/^cluster-[0-9a-f]{16}$/.test(name)) continue;
    const pgData = path.join(root, name);
    if (pgData === options.keep) continue;
    let owner: string;
    try {
      owner = fs.readFileSync(`${pgData}.owner`, 'utf8').trim();
    } catch {
      unattributed++;
      continue;
    }
    if (owner && pointedCluster(owner) === pgData) continue;
    if (runningPostmaster(pgData)) continue;
    try {
      removeStagedCluster(pgData);
    } catch (e) {
      options.log?.(`embedded postgres: could not remove ${pgData}: ${(e as Error).message}`);
      continue;
    }
    removed.push(pgData);
    options.log?.(`embedded postgres: removed ${pgData}, staged for ${owner || 'an unknown DATA_DIR'}, which no longer uses it`);
  }
  if (unattributed) {
    options.log?.(`embedded postgres: ${unattributed} staged cluster(s) in ${root} have no owner record and were left in place`);
  }
  return { removed, unattributed };
}
