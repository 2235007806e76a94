import { afterAll, describe, expect, test } from 'bun:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres, STAGE_ROOT, type EmbeddedPostgres } from '../../db/embedded.ts';

// Run as root with a DATA_DIR the postgres user cannot enter (any `mktemp -d`, mode 0700),
// the cluster is staged under STAGE_ROOT. A staged cluster whose DATA_DIR is gone must be removed at
// the next start; one still in use, or one that cannot be attributed, must be kept.

const dirs: string[] = [];
const clusters: EmbeddedPostgres[] = [];
const strays: string[] = [];
afterAll(async () => {
  for (const c of clusters) await c.destroy();
  for (const d of [...dirs, ...strays]) fs.rmSync(d, { recursive: true, force: true });
}, 60_000);

const isRoot = process.getuid?.() === 0;

/** A folder as `mktemp -d` makes it: 0700, so the postgres user cannot enter it. */
function privateDir(label: string) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `lora-staged-${label}-`));
  expect(fs.statSync(d).mode & 0o777).toBe(0o700);
  dirs.push(d);
  return d;
}

async function start(dataDir: string) {
  const pg = await startEmbeddedPostgres({ dataDir });
  clusters.push(pg);
  return pg;
}

describe('staged clusters', () => {
  test.skipIf(!isRoot)(
    'a cluster whose DATA_DIR is gone is removed at the next start; clusters in use or unattributable are kept',
    async () => {
      const goneDir = privateDir('gone');
      const gone = await start(goneDir);
      expect(gone.staged).toBe(true);
      expect(path.dirname(gone.dataDir)).toBe(STAGE_ROOT);
      expect(fs.readFileSync(`${gone.dataDir}.owner`, 'utf8').trim()).toBe(fs.realpathSync(goneDir));
      await gone.stop();

      const keptDir = privateDir('kept');
      const kept = await start(keptDir);
      await kept.stop();

      // Deleted while its Postgres still runs: in use, so kept.
      const runningDir = privateDir('running');
      const running = await start(runningDir);

      // Staged by an older version: no owner file, so nobody can say it is unused.
      const stray = path.join(STAGE_ROOT, `cluster-${'0123456789abcdef'}`);
      fs.mkdirSync(stray, { recursive: true });
      strays.push(stray);

      fs.rmSync(goneDir, { recursive: true, force: true });
      fs.rmSync(runningDir, { recursive: true, force: true });
      expect(fs.existsSync(gone.dataDir)).toBe(true);

      const lines: string[] = [];
      const next = await startEmbeddedPostgres({ dataDir: privateDir('next'), log: (l) => lines.push(l) });
      clusters.push(next);

      expect(fs.existsSync(gone.dataDir)).toBe(false);
      expect(fs.existsSync(`${gone.dataDir}.owner`)).toBe(false);
      expect(fs.existsSync(path.join(kept.dataDir, 'PG_VERSION'))).toBe(true);
      expect(fs.existsSync(path.join(running.dataDir, 'PG_VERSION'))).toBe(true);
      expect(fs.existsSync(stray)).toBe(true);
      expect(lines.some((l) => l.includes(gone.dataDir) && l.includes('removed'))).toBe(true);
      expect(lines.filter((l) => l.includes('no owner record'))).toHaveLength(1);

      // And a throwaway cluster leaves nothing behind when destroyed.
      await next.destroy();
      expect(fs.existsSync(next.dataDir)).toBe(false);
      expect(fs.existsSync(`${next.dataDir}.owner`)).toBe(false);
    },
    120_000,
  );
});
