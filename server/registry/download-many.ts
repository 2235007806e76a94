/**
 * models.downloadMany: several models in one zip, a folder per model and one SHA256SUMS at its root,
 * behind a signed link that is checked again (as that member, under row-level security) when it is used.
 */
import type { Deps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { asDelivered } from './checkpoints.ts';
import { listFiles, recordDownload } from '../models/queries.ts';
import { MAX_LINK_LIFETIME_SECONDS } from '../vocabulary.ts';
import { type Actor, judge, type Reach, rls } from '../workspaces/roles.ts';
import { downloadableModels } from './download-many-queries.ts';
import { manyBundleUrl } from './download-many-link.ts';
import { formatRef } from './refs.ts';

/** The zip's name: how many models it holds (the folders inside say which). */
export function manyBundleName(count: number): string {
  return `models-${count}.zip`;
}

/**
 * The folder of each model in the zip, in order: its reference made file-safe (`family@v3` → `family-v3`).
 * Two models of one name (the same family and version in two workspaces) get `-2`, `-3`… after the first;
 * a reference always ends in `-v<n>`, so a suffixed name never meets another model's own.
 */
export function folderNames(models: readonly { family: string; version: number }[]): string[] {
  const taken = new Set<string>();
  return models.map((m) => {
    const stem = formatRef(m.family, m.version).replace(/[^A-Za-z0-9._-]+/g, '-');
    let name = stem;
    // Case-insensitively: macOS and Windows unzip `A` and `a` into one folder.
    for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${stem}-${n}`;
    taken.add(name.toLowerCase());
    return name;
  });
}

/**
 * A signed link to one zip of `modelIds` (1 to 50 distinct live models the caller can read, in any of
 * their workspaces; a token only in its own), valid for SIGNED_URL_TTL_SECONDS (at most 7 days). A model
 * not there, not theirs or in the trash is NOT_FOUND and nothing is signed. The link is for the member,
 * not the token: like every download link it works while that user may still read every model. The
 * downloads are recorded when the zip is fetched (one event per model), not here.
 */
export async function downloadMany(deps: Deps, actor: Actor, input: { modelIds: string[] }) {
  const rows = await deps.database.asUser(rls(actor), (tx) => downloadableModels(tx, actor, input.modelIds));
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const id of input.modelIds) {
    const row = byId.get(id);
    if (!row) throw ERRORS.notFound('Model');
    judge(actor, row.role, 'read', 'Model');
  }
  const ttl = Math.min(deps.env.signedUrlTtlSeconds, MAX_LINK_LIFETIME_SECONDS);
  const link = manyBundleUrl(deps.env.publicUrl, deps.secret, input.modelIds, `u:${actor.userId}`, ttl, deps.now());
  deps.metrics.signedLinks.inc({ kind: 'many' });
  return { url: link.url, expiresAt: link.expiresAt.toISOString(), fileName: manyBundleName(input.modelIds.length) };
}

/**
 * What a verified link serves: each model (in the link's order) with its files as every download serves
 * them (`asDelivered`: a promoted checkpoint's adapter in place of the final one), read in the member's
 * row-level-security transaction. Every model must still be live and readable by that member, or the
 * link fails as a whole (NOT_FOUND) and nothing is recorded. A GET records one `bundle` event per model
 * (`record`); a HEAD (`null`) records nothing.
 */
export async function openManyBundle(deps: Deps, userId: string, modelIds: string[], record: { ip: string | null; userAgent: string | null } | null) {
  const reach: Reach = { userId, token: null };
  const bundled = await deps.database.asUser(
    rls(reach),
    async (tx) => {
      // Reads, then the records, leave in one write (statements run in order on the connection). A model the
      // reads do not find throws, and the transaction takes back any record (one for a missing model fails anyway).
      const found = downloadableModels(tx, reach, modelIds);
      const listings = modelIds.map((id) => listFiles(tx, reach, id));
      const recorded = record
        ? modelIds.map((artifactId) => recordDownload(tx, { userId, shareId: null, artifactId, fileIds: null, kind: 'bundle', ...record }))
        : [];
      for (const p of [...listings, ...recorded]) p.catch(() => {});
      const byId = new Map((await found).map((r) => [r.id, r]));
      const models = modelIds.map((id) => {
        const row = byId.get(id);
        if (!row) throw ERRORS.notFound('Model');
        return row;
      });
      const files = await Promise.all(listings);
      await Promise.all(recorded);
      return models.map((m, i) => ({ ...m, files: asDelivered(files[i]!, m.mainCheckpoint) }));
    },
    { relaxedCommit: true },
  );
  // One download per model, as download_events records it.
  if (record) deps.metrics.downloads.inc({ kind: 'bundle', via: 'member' }, bundled.length);
  return bundled;
}
