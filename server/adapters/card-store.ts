/**
 * The generated model card, `README.md` at the top of every model: rendered from what the service knows
 * (server/adapters/card.ts), stored as one of the model's files, so it is listed, signed, zipped and in
 * SHA256SUMS like any other. Its key names its content (`…/card-<sha>`): a new card is a new object, and
 * the row moves to it in one transaction, so a link signed for the old card never serves a half-written one.
 */
import { eq, sql } from 'drizzle-orm';
import type { Tx } from '../../db/client.ts';
import { artifactFiles, datasets, modelArtifacts } from '../../db/schema/index.ts';
import type { Deps } from '../deps.ts';
import { cardColumns } from '../models/queries.ts';
import { asDelivered } from '../registry/checkpoints.ts';
import { storedFiles } from '../registry/checkpoints-queries.ts';
import { keepClearOfGeneratedNames } from '../storage/generated-names.ts';
import type { StorageDriver } from '../storage/storage.ts';
import { renderModelCard } from './card.ts';
import { type AdapterSubject, adapterView, subjectOf } from './view.ts';

/** The card's path among the model's files (a generated name: a trainer's own README.md is kept as README.trainer.md). */
const CARD_PATH = 'README.md';
const CARD_CONTENT_TYPE = 'text/markdown; charset=utf-8';

/**
 * What a model's card may take, counted by the ingest's quota check before anything is copied (the card
 * itself is rendered at delivery): the fixed sections and usage snippets stay under 16 KiB, and each file
 * adds one table row (its path, size and SHA-256) of at most 256 bytes at ingest.
 */
export function cardAllowance(fileCount: number): number {
  return 16 * 1024 + 256 * fileCount;
}

/** A rendered card stored under `prefix`: the values of its artifact_files row. */
export interface StoredCard {
  path: string;
  storageKey: string;
  sizeBytes: number;
  sha256: string;
  kind: 'model_card';
  contentType: string;
}

/** Renders the card of `subject`: its bytes, and the row it is stored as under `prefix` (a key of its own per content). */
function renderCard(prefix: string, subject: AdapterSubject): StoredCard & { bytes: Uint8Array } {
  const bytes = new TextEncoder().encode(renderModelCard(adapterView(subject).card));
  const sha256 = new Bun.CryptoHasher('sha256').update(bytes).digest('hex');
  const storageKey = `${prefix}card-${sha256.slice(0, 16)}`;
  return { path: CARD_PATH, storageKey, sizeBytes: bytes.length, sha256, kind: 'model_card', contentType: CARD_CONTENT_TYPE, bytes };
}

async function putCard(storage: StorageDriver, { bytes, ...card }: StoredCard & { bytes: Uint8Array }): Promise<StoredCard> {
  await storage.put(card.storageKey, new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(), {
    size: bytes.length,
    contentType: CARD_CONTENT_TYPE,
    fileName: CARD_PATH,
  });
  return card;
}

/** Renders the card of `subject` and stores it under `prefix`: the ingest's card, written before its model row. */
export function storeCard(storage: StorageDriver, prefix: string, subject: AdapterSubject): Promise<StoredCard> {
  return putCard(storage, renderCard(prefix, subject));
}

/** The model as its card describes it, its row locked (a prune, a promotion or an export delivery of it waits). */
async function lockedSubject(tx: Tx, modelId: string) {
  const [row] = await tx
    .select({
      ...cardColumns,
      qualityScore: modelArtifacts.qualityScore,
      convergenceQuality: modelArtifacts.convergence,
      totalCost: modelArtifacts.totalCost,
      datasetName: datasets.name,
      storagePrefix: modelArtifacts.storagePrefix,
      workspaceId: modelArtifacts.workspaceId,
    })
    .from(modelArtifacts)
    .leftJoin(datasets, eq(datasets.id, modelArtifacts.datasetId))
    .where(eq(modelArtifacts.id, modelId))
    .for('no key update', { of: modelArtifacts });
  if (!row) return null;
  const files = await storedFiles(tx, modelId);
  const delivered = asDelivered(files, row.mainCheckpoint);
  const subject = subjectOf(
    row,
    delivered.map((f) => ({ path: f.path, sizeBytes: Number(f.sizeBytes), sha256: f.sha256, kind: f.kind })),
    row.datasetName,
  );
  return { row, files, subject };
}

/**
 * Renders the model's card again (after a rename, a new description or tags, a promotion, an export) and
 * makes it the model's README.md. A model delivered before cards existed gets its first one; a README.md the
 * trainer wrote then becomes README.trainer.md, as the ingest does now. No change, no write. Returns whether it changed.
 */
export async function refreshModelCard(deps: Deps, modelId: string): Promise<boolean> {
  let stale: string | null = null;
  const changed = await deps.database.db.transaction(async (tx) => {
    const found = await lockedSubject(tx, modelId);
    if (!found) return false;
    const { row, files, subject } = found;
    const current = files.find((f) => f.kind === 'model_card');
    const rendered = renderCard(row.storagePrefix, subject);
    if (current?.sha256 === rendered.sha256) return false;
    const card = await putCard(deps.storage, rendered);
    if (current) {
      await tx
        .update(artifactFiles)
        .set({ storageKey: card.storageKey, sizeBytes: card.sizeBytes, sha256: card.sha256 })
        .where(eq(artifactFiles.id, current.id));
      if (current.storageKey !== card.storageKey) stale = current.storageKey;
    } else {
      // The model's first card: its files keep clear of the generated names as an ingest now keeps them (a trainer's
      // README.md becomes README.trainer.md, its original name recorded).
      const kept = keepClearOfGeneratedNames(files.map((f) => f.path));
      for (const [i, k] of kept.entries()) {
        const f = files[i]!;
        if (k.sourcePath !== null) {
          await tx
            .update(artifactFiles)
            .set({ path: k.path, sourcePath: f.sourcePath ?? k.sourcePath })
            .where(eq(artifactFiles.id, f.id));
        }
      }
      await tx.insert(artifactFiles).values({ artifactId: modelId, workspaceId: row.workspaceId, ...card });
    }
    await tx
      .update(modelArtifacts)
      .set({
        totalBytes: sql`${modelArtifacts.totalBytes} + ${card.sizeBytes - Number(current?.sizeBytes ?? 0)}`,
        fileCount: sql`${modelArtifacts.fileCount} + ${current ? 0 : 1}`,
      })
      .where(eq(modelArtifacts.id, modelId));
    return true;
  });
  // The old card's object goes once nothing names it; a link signed for it meanwhile ends with it.
  if (stale) await deps.storage.deleteKeys([stale]).catch((err) => deps.log.warn('old model card not deleted', { key: stale, err }));
  return changed;
}

/**
 * refreshModelCard after a committed change the card shows (an edit, a promotion, a prune). The change
 * stands either way: a card that could not be written is logged and rendered again with the next change.
 */
export async function refreshCardAfter(deps: Deps, modelId: string): Promise<void> {
  await refreshModelCard(deps, modelId).catch((err) => deps.log.warn('model card not refreshed', { modelId, err }));
}
