import { createHash } from 'node:crypto';

/**
 * The artifact id of a job, derived from the job id: every attempt of the same ingest (a retry, a
 * second worker, a restart after a crash) writes the same object keys, so a failed attempt's objects
 * are overwritten rather than orphaned.
 */
export function artifactIdFor(jobId: string): string {
  const h = createHash('sha256').update(`model-artifact:${jobId}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80; // RFC 9562 version 8 (custom)
  h[8] = (h[8]! & 0x3f) | 0x80; // variant 10
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * `artifacts/{artifactId}/`: built from server ids only, never from a file name, and naming no owner, so
 * a model can change hands without its bytes moving. (Models stored before teams keep `{userId}/{artifactId}/`,
 * recorded per file as `storage_key` and per model as `storage_prefix`.)
 */
export function storagePrefix(artifactId: string): string {
  return `artifacts/${artifactId}/`;
}
