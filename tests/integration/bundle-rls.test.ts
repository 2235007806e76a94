// The zip bundle route reads through the owner's row-level-security transaction (database.asUser), like
// every user-facing path: whatever Postgres hides from app_user, a bundle link does not serve.
// The link is signed for a member (`g=u:<userId>`) and read as that member.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { bundleUrl } from '../../server/models/bundle-link.ts';
import { fileBytes, insertArtifact, type InsertedArtifact } from '../helpers/factories.ts';
import { newUser, startTestService, type TestService } from '../helpers/service.ts';

let svc: TestService;
let userId: string;
let model: InsertedArtifact;
let dir: string;

beforeAll(async () => {
  svc = await startTestService({ label: 'bundle-rls' });
  userId = (await newUser(svc, 'bundle-rls')).userId;
  model = await insertArtifact(svc.deps, userId, {
    name: 'rls-bundle',
    files: [
      { path: 'adapter_model.safetensors', bytes: fileBytes('visible', 300) },
      { path: 'quarantined.bin', bytes: fileBytes('quarantined', 200) },
    ],
  });
  dir = await mkdtemp(join(tmpdir(), 'bundle-rls-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await svc?.stop();
});

/** GETs the bundle link; the status and, for a 200, the zip's entry names (unzip -Z1). */
async function bundleEntries(label: string): Promise<{ status: number; entries: string[] }> {
  const res = await fetch(bundleUrl(svc.url, svc.deps.secret, model.id, `u:${userId}`, 60, svc.deps.now()).url);
  if (res.status !== 200) {
    await res.body?.cancel();
    return { status: res.status, entries: [] };
  }
  const zipPath = join(dir, `${label}.zip`);
  await Bun.write(zipPath, new Uint8Array(await res.arrayBuffer()));
  const list = Bun.spawnSync(['unzip', '-Z1', zipPath], { stdout: 'pipe', stderr: 'pipe' });
  expect(list.exitCode).toBe(0);
  return { status: 200, entries: list.stdout.toString().trim().split('\n').sort() };
}

test('rows that row-level security hides from app_user are not served, though the signed member matches them', async () => {
  // Baseline: the owner's link serves every file (so the assertions below are not vacuous).
  expect(await bundleEntries('before')).toEqual({ status: 200, entries: ['SHA256SUMS', 'adapter_model.safetensors', 'quarantined.bin'] });

  // Restrictive policies apply to app_user only; the owner's connection (the old read path) ignores them.
  // They stand for any row RLS withholds, e.g. another user's row that a query without its owner filter would match.
  const { db } = svc.deps.database;
  try {
    await db.execute(sql`create policy test_quarantine on artifact_files as restrictive for select to app_user using (path <> 'quarantined.bin')`);
    expect(await bundleEntries('file-hidden')).toEqual({ status: 200, entries: ['SHA256SUMS', 'adapter_model.safetensors'] });

    await db.execute(sql.raw(`create policy test_hide_model on model_artifacts as restrictive for select to app_user using (id <> '${model.id}')`));
    expect((await bundleEntries('model-hidden')).status).toBe(404);
  } finally {
    await db.execute(sql`drop policy if exists test_quarantine on artifact_files`);
    await db.execute(sql`drop policy if exists test_hide_model on model_artifacts`);
  }
  // And with the policies gone, the same link serves everything again.
  expect((await bundleEntries('after')).entries).toHaveLength(3);
});
