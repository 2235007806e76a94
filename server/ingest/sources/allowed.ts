/**
 * Where a training output may be read from. A worker token lets a GPU node name any `outputUri`, so
 * without this check a user could make a "model" of `/etc`, of the service's own DATA_DIR (auth secret,
 * Postgres password and cluster, other users' stored files) or of another user's S3 prefix. The operator
 * lists allowed places (SOURCE_FILE_ROOTS, SOURCE_S3_PREFIXES, placeholders filled from the job), and
 * whatever they say, nothing of DATA_DIR outside `DATA_DIR/outputs` is ever readable.
 *
 * Checked twice: by jobs.complete (a clear BAD_REQUEST) and by the ingest right before reading (the folder
 * may have been swapped for a symlink since, and rows re-queued by the sweep never pass complete).
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pointedCluster, STAGE_ROOT } from '../../../db/embedded-stage.ts';
import { SOURCE_PLACEHOLDERS } from '../../env.ts';
import { isSingleSegment, keyPrefixSegments } from '../../paths.ts';

/** What of the configuration decides (a subset of Env, so tests can pass a literal). */
export interface OutputPolicy {
  dataDir: string;
  sourceFileRoots: string[];
  sourceS3Prefixes: { bucket: string; prefix: string }[];
}

/** The job an output belongs to: its ids fill the placeholders. */
export interface OutputOwner {
  jobId: string;
  /** The job's creator; null once their account is gone (a `{userId}` root then admits nothing). */
  userId: string | null;
  workspaceId: string;
}

/** How a FileSource stays confined at read time (real paths, resolved when the output was admitted). */
export interface FileConfinement {
  /** The allowed root the output folder lies in; the folder must still resolve inside it. */
  allowedRoot: string;
  /** True for a real path that is or holds a folder of the service's own (DATA_DIR, storage, cluster). */
  isRefused: (realPath: string) => boolean;
}

export type OutputDecision = { allowed: true; file?: FileConfinement } | { allowed: false; reason: string };

type SourcePlaceholder = (typeof SOURCE_PLACEHOLDERS)[number];

/**
 * `entry` with `{jobId}`/`{userId}`/`{workspaceId}` filled, or null when a value could change the entry's shape
 * (empty, a separator, a dot segment): such a root then admits nothing rather than something else.
 */
export function fillPlaceholders(entry: string, owner: OutputOwner): string | null {
  let unsafe = false;
  const filled = entry.replace(/\{([^}]*)\}/g, (whole, name: string) => {
    if (!(SOURCE_PLACEHOLDERS as readonly string[]).includes(name)) return whole;
    const value = owner[name as SourcePlaceholder];
    if (!value || !isSingleSegment(value)) unsafe = true;
    return value ?? '';
  });
  return unsafe ? null : filled;
}

/** The folder a worker should write a job's output to: the first SOURCE_FILE_ROOTS entry, filled. */
export function defaultOutputFolder(policy: OutputPolicy, owner: OutputOwner): string | null {
  const first = policy.sourceFileRoots[0];
  return first === undefined ? null : fillPlaceholders(first, owner);
}

/** `child` is `parent` or lies below it (both absolute and normalised). */
export function isInside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith(path.sep) ? parent : parent + path.sep);
}

/**
 * The real path of `p`: symlinks resolved for the part that exists, the rest appended lexically (a folder
 * the worker has not created yet). Errors other than "missing" (a symlink loop, no permission) throw.
 */
async function resolveReal(p: string): Promise<string> {
  const abs = path.resolve(p);
  try {
    return await realpath(abs);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
    const parent = path.dirname(abs);
    if (parent === abs) return abs;
    return path.join(await resolveReal(parent), path.basename(abs));
  }
}

/**
 * The real path of a SOURCE_FILE_ROOTS entry for `owner`. Only the operator's part (the segments before the
 * first placeholder) is resolved through symlinks; the filled part is appended as written, since the
 * worker creates it: a job folder that is itself a symlink to /etc must not move the root to /etc.
 */
async function resolveRoot(entry: string, owner: OutputOwner): Promise<string | null> {
  const segments = path.resolve(entry).split(path.sep);
  const cut = segments.findIndex((s) => s.includes('{'));
  const fixed = cut < 0 ? segments : segments.slice(0, cut);
  const rest = cut < 0 ? [] : segments.slice(cut).map((s) => fillPlaceholders(s, owner));
  if (rest.some((s) => s === null || !isSingleSegment(s))) return null;
  return path.join(await resolveReal(fixed.join(path.sep) || path.sep), ...(rest as string[]));
}

/** The service's own folders, real paths: never readable as an output, nor any folder that holds one. */
async function ownFolders(dataDir: string) {
  const data = path.resolve(dataDir);
  // A cluster the postgres user could not keep under DATA_DIR is staged elsewhere (db/embedded-stage.ts).
  const cluster = pointedCluster(data) ?? path.join(data, 'postgres');
  const real = (p: string) => resolveReal(p).catch(() => path.resolve(p));
  const [dataReal, outputsReal] = [await real(data), await real(path.join(data, 'outputs'))];
  const others = await Promise.all([path.join(data, 'storage'), cluster, STAGE_ROOT].map(real));
  // DATA_DIR/outputs is the one readable part of DATA_DIR, unless it is (a link to) DATA_DIR itself.
  const carveOut = outputsReal !== dataReal && isInside(outputsReal, dataReal) ? outputsReal : null;
  return (real: string): boolean => {
    if (isInside(dataReal, real)) return true;
    if (isInside(real, dataReal) && !(carveOut && isInside(real, carveOut))) return true;
    return others.some((own) => isInside(real, own) || isInside(own, real));
  };
}

const refusedFile = (uri: string) =>
  `outputUri ${uri} is not a folder this service may read for this job; write the output into the folder the operator set up for it (SOURCE_FILE_ROOTS)`;

async function decideFile(policy: OutputPolicy, owner: OutputOwner, uri: string): Promise<OutputDecision> {
  let target: string;
  try {
    target = fileURLToPath(uri);
  } catch {
    return { allowed: false, reason: `outputUri ${uri} is not a file:///absolute/dir URI` };
  }
  if (!path.isAbsolute(target) || target.includes('\0')) return { allowed: false, reason: `outputUri ${uri} is not a file:///absolute/dir URI` };
  let real: string;
  try {
    real = await resolveReal(target);
  } catch {
    return { allowed: false, reason: refusedFile(uri) };
  }
  const isRefused = await ownFolders(policy.dataDir);
  if (isRefused(real)) return { allowed: false, reason: refusedFile(uri) };
  for (const entry of policy.sourceFileRoots) {
    let root: string | null;
    try {
      root = await resolveRoot(entry, owner);
    } catch {
      continue;
    }
    if (root === null) continue;
    if (isInside(real, root)) return { allowed: true, file: { allowedRoot: root, isRefused } };
  }
  return { allowed: false, reason: refusedFile(uri) };
}

function decideS3(policy: OutputPolicy, owner: OutputOwner, uri: string): OutputDecision {
  if (policy.sourceS3Prefixes.length === 0) {
    return { allowed: false, reason: `outputUri ${uri}: s3:// outputs are not enabled on this service (SOURCE_S3_PREFIXES is unset)` };
  }
  let bucket: string;
  let key: string;
  try {
    const url = new URL(uri);
    bucket = url.hostname;
    // Decoded exactly as S3Source decodes it, so the check sees the key prefix that will be listed.
    key = decodeURIComponent(url.pathname).replace(/^\/+/, '');
  } catch {
    return { allowed: false, reason: `outputUri ${uri} is not an s3://bucket/prefix URI` };
  }
  const segments = keyPrefixSegments(key);
  // The URL parser already folded `.`/`..` away; refuse them as written too, so what was meant is what is read.
  let written: string[] | null;
  try {
    written = keyPrefixSegments(decodeURIComponent(uri.replace(/^s3:\/\/[^/?#]*\/?/i, '')));
  } catch {
    written = null;
  }
  if (!bucket || segments === null || written === null) return { allowed: false, reason: `outputUri ${uri} has an empty, "." or ".." segment` };
  for (const entry of policy.sourceS3Prefixes) {
    const allowedBucket = fillPlaceholders(entry.bucket, owner);
    const allowedPrefix = fillPlaceholders(entry.prefix, owner);
    if (allowedBucket === null || allowedPrefix === null || allowedBucket !== bucket) continue;
    const allowedSegments = keyPrefixSegments(allowedPrefix);
    if (allowedSegments === null || allowedSegments.length > segments.length) continue;
    // Whole segments: prefix `runs/1` admits `runs/1/…`, never `runs/10`.
    if (allowedSegments.every((s, i) => s === segments[i])) return { allowed: true };
  }
  return { allowed: false, reason: `outputUri ${uri} is not under an S3 prefix this service may read for this job (SOURCE_S3_PREFIXES)` };
}

/**
 * Decides whether `uri` may be read as `owner`'s training output. `file://` must resolve (after symlinks)
 * inside a filled SOURCE_FILE_ROOTS entry and outside the service's own folders; `s3://` must lie under a
 * filled SOURCE_S3_PREFIXES entry, segment by segment; `https://` is left to its own SSRF guard.
 * The refusal reason names only the URI the worker sent.
 */
export async function checkOutputUri(policy: OutputPolicy, owner: OutputOwner, uri: string): Promise<OutputDecision> {
  let protocol: string;
  try {
    protocol = new URL(uri).protocol;
  } catch {
    return { allowed: false, reason: `outputUri ${uri} is not a URI` };
  }
  if (protocol === 'file:') return decideFile(policy, owner, uri);
  if (protocol === 's3:') return decideS3(policy, owner, uri);
  return { allowed: true };
}
