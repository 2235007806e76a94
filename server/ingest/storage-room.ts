/**
 * Ingest-side handling of a full disk: refuse an output that cannot fit before copying (sizes are known
 * from the listing), and turn an ENOSPC during the copy (another writer filled the disk) into a clear,
 * final message. Both are permanent for this attempt: retrying would hit the same wall five times, and
 * the user can retryIngest once space is freed.
 */
import { formatBytes, ingestMargin, isNoSpace } from '../storage/free-space.ts';
import type { StorageDriver } from '../storage/storage.ts';
import { IngestError } from './user-message.ts';

/** Throws IngestError when `sizes` plus a margin exceed the storage's free space (drivers that report it: fs). */
export async function ensureStorageRoom(storage: StorageDriver, sizes: number[]): Promise<void> {
  if (!storage.space) return;
  const { freeBytes } = await storage.space();
  const total = sizes.reduce((a, b) => a + b, 0);
  const needed = total + ingestMargin(total);
  if (needed > freeBytes) {
    throw new IngestError(
      `Not enough storage space for this model: it needs ${formatBytes(needed)}, ${formatBytes(freeBytes)} free. Retry the ingest once space is freed.`,
    );
  }
}

/** Use as `.catch(storageFull(path))` on a copy: a full disk becomes an IngestError naming the file. */
export function storageFull(path: string) {
  return (error: unknown): never => {
    // The copy may surface the driver's raw ENOSPC (its stream is cancelled with it) rather than our wrapper.
    if (isNoSpace(error)) {
      throw new IngestError(`Storage ran out of space while copying ${path}. Retry the ingest once space is freed.`);
    }
    throw error;
  };
}

/**
 * Throws IngestError when storing `neededBytes` more would take the workspace past its quota
 * (WORKSPACE_QUOTA_BYTES; `usedBytes` counts live models and the trash). Permanent: the members must free
 * space or the operator raise the quota, then retry the ingest.
 */
export function ensureWithinQuota(quotaBytes: number, usedBytes: number, neededBytes: number): void {
  if (usedBytes + neededBytes <= quotaBytes) return;
  throw new IngestError(
    `This workspace's storage quota is full: it uses ${formatBytes(usedBytes)} of ${formatBytes(quotaBytes)}, and this model needs ${formatBytes(neededBytes)}. ` +
      'Delete models and empty the trash, or ask the operator to raise WORKSPACE_QUOTA_BYTES, then retry the ingest.',
  );
}
