/**
 * Free space of local-disk storage: reported by /readyz, and checked before an ingest copies anything,
 * so a full disk is a clear message at once instead of a raw ENOSPC after five attempts.
 */
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { StorageDriver, StorageSpace } from './storage.ts';

/** /readyz calls storage degraded below this much free space, or below DEGRADED_FRACTION of the disk, whichever is smaller. */
const DEGRADED_BELOW_BYTES = 1024 ** 3;
const DEGRADED_FRACTION = 0.02;

/** A write failed because the disk (or the quota) is full. The message names no server path. */
class StorageFullError extends Error {
  override name = 'StorageFullError';
}

/** Space on the filesystem holding `dir`, as an unprivileged writer sees it. */
export async function folderSpace(dir: string): Promise<StorageSpace> {
  // The root is created on first write; until then its nearest existing parent is the same filesystem.
  for (let at = dir; ; at = dirname(at)) {
    try {
      const s = await statfs(at);
      return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(at) === at) throw error;
    }
  }
}

/** Whether `error` says the disk (or quota) is full: StorageFullError, or a raw ENOSPC / EDQUOT. */
export function isNoSpace(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return error instanceof StorageFullError || code === 'ENOSPC' || code === 'EDQUOT';
}

/** Rethrows ENOSPC / EDQUOT as StorageFullError, anything else as it is. */
export function rethrowNoSpace(error: unknown): never {
  if (isNoSpace(error) && !(error instanceof StorageFullError)) throw new StorageFullError('the storage disk is full');
  throw error;
}

/** What /readyz adds to its storage check; null for a driver that cannot tell (s3). */
export async function storageSpaceReport(storage: StorageDriver): Promise<{ freeBytes: number; totalBytes: number; degraded: boolean } | null> {
  if (!storage.space) return null;
  try {
    const { freeBytes, totalBytes } = await storage.space();
    const threshold = Math.min(DEGRADED_BELOW_BYTES, totalBytes * DEGRADED_FRACTION);
    return { freeBytes, totalBytes, degraded: freeBytes < threshold };
  } catch {
    return null;
  }
}

/** Room kept beyond the files themselves: filesystem blocks, temp names, the next writer. */
export function ingestMargin(bytes: number): number {
  return 1024 ** 2 + Math.ceil(bytes * 0.01);
}

/** "1.2 GB", "640 MB", "12 KB": decimal units, as disks are sold and `df -H` shows. */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${bytes} bytes` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}
