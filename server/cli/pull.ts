/**
 * `lora pull REF`: plans what to fetch (the model's files, narrowed by --checkpoint and --include; those already
 * on disk with the right SHA-256 are skipped), fetches the rest into `.part` files (transfer.ts), and renames each
 * into place only once its SHA-256 matches the one the service recorded. A mismatch deletes the download.
 */
import { mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import type { createClient } from '../client.ts';
import { CliError, EXIT } from './errors.ts';
import { formatBytes } from './format.ts';
import { createHasher } from './hasher.ts';
import { PartFile } from './part-file.ts';
import type { FileState, PullEvent, Reporter, Snapshot } from './progress.ts';
import { type FileTask, type LinkSet, Links, transfer } from './transfer.ts';

type Api = ReturnType<typeof createClient>;
type Model = Awaited<ReturnType<Api['models']['get']['query']>>;
type ModelFile = Model['files'][number];

export interface PullOptions {
  ref: string;
  to?: string | undefined;
  include: string[];
  checkpoint?: string | undefined;
  parallel: number;
}

/** The most file ids models.download takes at once. */
const MAX_FILE_IDS = 2000;

/** Top-level files a checkpoint folder is used with: its tokenizer and the model card. */
const CHECKPOINT_COMPANIONS: readonly ModelFile['kind'][] = ['tokenizer', 'model_card'];

/**
 * The files a pull takes. `--checkpoint NAME`: everything under `NAME/` (what the trainer saved there: adapter,
 * config, trainer state), plus the model's top-level tokenizer files and card, which a checkpoint folder is loaded
 * with. `--include GLOB` (repeatable) then keeps the paths any pattern matches; a pattern without `/` also matches
 * the file name at any depth (`*.json`), one with `/` the whole path (`checkpoint-*\/adapter_*`).
 */
export function selectFiles<F extends { path: string; kind: string }>(
  files: readonly F[],
  options: { checkpoint?: string | undefined; include: readonly string[] },
  checkpointNames: readonly string[] = [],
): F[] {
  let chosen = [...files];
  if (options.checkpoint !== undefined) {
    const name = options.checkpoint.replace(/\/+$/, '');
    const inside = chosen.filter((f) => f.path === name || f.path.startsWith(`${name}/`));
    if (inside.length === 0) {
      const known = checkpointNames.length ? `its checkpoints are ${checkpointNames.join(', ')}` : 'it has no checkpoints';
      throw new CliError(EXIT.notFound, `not found: no checkpoint "${name}" in this model; ${known}`);
    }
    const companions = chosen.filter((f) => !f.path.includes('/') && (CHECKPOINT_COMPANIONS as readonly string[]).includes(f.kind));
    chosen = [...inside, ...companions];
  }
  if (options.include.length > 0) {
    const globs = options.include.map((pattern) => ({ glob: new Bun.Glob(pattern), whole: pattern.includes('/') }));
    chosen = chosen.filter((f) => globs.some(({ glob, whole }) => glob.match(f.path) || (!whole && glob.match(basename(f.path)))));
  }
  return chosen;
}

/** Where a file of the model goes under `dir`; a path that could leave it (never sent by a sane service) is refused. */
export function targetPath(dir: string, path: string): string {
  const segments = path.split('/');
  if (path.startsWith('/') || path.includes('\\') || path.includes('\0') || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new CliError(EXIT.failure, `refusing a file path that would leave the folder: ${JSON.stringify(path)}`);
  }
  const full = join(dir, ...segments);
  if (!full.startsWith(dir + sep)) throw new CliError(EXIT.failure, `refusing a file path that would leave the folder: ${JSON.stringify(path)}`);
  return full;
}

/** True when `path` holds exactly the recorded bytes. */
async function alreadyThere(path: string, size: number, sha256: string): Promise<boolean> {
  const info = await stat(path).catch(() => null);
  if (!info?.isFile() || info.size !== size) return false;
  const hasher = createHasher(path, size);
  try {
    return (await hasher.digest(size)) === sha256;
  } finally {
    hasher.close();
  }
}

/** Runs `fn` over `items`, `limit` at a time, in order of start. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export async function pull(api: Api, options: PullOptions, reporter: Reporter, signal: AbortSignal, say: (line: string) => void): Promise<void> {
  const started = Date.now();
  const model = await api.models.get.query({ ref: options.ref });
  const checkpointNames = model.checkpoints.items.filter((c) => !c.pruned).map((c) => c.name);
  const files = selectFiles(model.files, options, checkpointNames);
  if (files.length === 0) {
    const patterns = options.include.map((p) => JSON.stringify(p)).join(', ');
    throw new CliError(EXIT.notFound, `not found: ${patterns ? `no file of ${model.ref} matches ${patterns}` : `${model.ref} has no files`}`);
  }
  const dir = resolve(options.to ?? model.family);
  const targets = new Map(files.map((f) => [f.id, targetPath(dir, f.path)]));

  // What is already in place: hashed, two files at a time (each large one on its own worker).
  const state = new Map<string, FileState>(files.map((f) => [f.id, 'queued']));
  await eachLimited(files, 2, async (f) => {
    signal.throwIfAborted();
    if (await alreadyThere(targets.get(f.id)!, f.sizeBytes, f.sha256)) state.set(f.id, 'verified');
  });
  const present = files.filter((f) => state.get(f.id) === 'verified');
  const missing = files.filter((f) => state.get(f.id) !== 'verified');
  const total = files.reduce((s, f) => s + f.sizeBytes, 0);
  const toFetch = missing.reduce((s, f) => s + f.sizeBytes, 0);
  const event = (e: PullEvent) => reporter.event(e);
  const plural = (n: number) => `${n} file${n === 1 ? '' : 's'}`;
  if (missing.length === 0) say(`Nothing to download: the ${plural(files.length)} of ${model.ref} in ${dir} are present and verified (SHA-256).`);
  event({
    event: 'start',
    model: { id: model.id, ref: model.ref, name: model.name },
    dir,
    files: files.length,
    bytes: total,
    present: present.length,
    toFetch,
  });
  for (const f of present) event({ event: 'verified', path: f.path, sha256: f.sha256, already: true });
  if (missing.length === 0) {
    event({ event: 'done', status: 'nothing_to_download', dir, files: files.length, downloaded: 0, seconds: (Date.now() - started) / 1000 });
    return;
  }

  const renew = async (ids: string[]): Promise<LinkSet> => {
    const sets: LinkSet[] = [];
    for (let i = 0; i < ids.length; i += MAX_FILE_IDS)
      sets.push(await api.models.download.mutate({ modelId: model.id, fileIds: ids.slice(i, i + MAX_FILE_IDS) }));
    return { files: sets.flatMap((s) => s.files), expiresAt: sets.map((s) => s.expiresAt).sort()[0]! };
  };
  const first = await renew(missing.map((f) => f.id));
  // The signed answer is the truth of what is fetched (the same rows models.get listed).
  const tasks: FileTask[] = [];
  for (const f of first.files) {
    const target = targets.get(f.id);
    if (!target) throw new CliError(EXIT.failure, `the service signed a file that was not asked for: ${f.path}`);
    await mkdir(dirname(target), { recursive: true });
    const part = await PartFile.open(target, f.sizeBytes, f.sha256);
    tasks.push({
      id: f.id,
      path: f.path,
      size: f.sizeBytes,
      part,
      hasher: createHasher(part.partPath, f.sizeBytes),
      downloaded: 0,
      lastByteAt: 0,
      active: 0,
    });
    state.set(f.id, 'downloading');
    event({ event: 'file_start', path: f.path, size: f.sizeBytes, resumeFrom: part.bytesDone });
  }
  const resumed = tasks.reduce((n, t) => n + t.part.bytesDone, 0);
  const notes = [
    ...(resumed ? [`resuming with ${formatBytes(resumed)} already on disk`] : []),
    ...(present.length ? [`${plural(present.length)} already there and verified`] : []),
  ];
  say(
    `Pulling ${model.ref} (${model.name}) into ${dir}: ${plural(missing.length)}, ${formatBytes(toFetch - resumed)} to fetch${notes.length ? ` (${notes.join('; ')})` : ''}.`,
  );
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const links = new Links(
    first,
    renew,
    () => tasks.filter((t) => !t.part.complete).map((t) => t.id),
    (reason, n) => event({ event: 'refresh_links', reason, files: n }),
  );

  const snapshot = (): Snapshot => {
    const now = Date.now();
    const list = files.map((f) => {
      const task = byId.get(f.id);
      let s = state.get(f.id)!;
      // Stalled: a connection is open and no byte came for 3 s.
      if (s === 'downloading' && task && task.active > 0 && now - task.lastByteAt > 3000) s = 'stalled';
      if (s === 'downloading' && task && task.active === 0 && task.downloaded === 0) s = 'queued';
      const bytes = s === 'verified' ? f.sizeBytes : s === 'failed' ? 0 : (task?.part.bytesDone ?? 0);
      return { path: f.path, size: f.sizeBytes, bytes, state: s };
    });
    return { bytes: list.reduce((n, f) => n + f.bytes, 0), total, downloaded: tasks.reduce((n, t) => n + t.downloaded, 0), files: list };
  };
  // Each tick records the ranges on disk, then shows a snapshot taken before that save: progress never claims a
  // byte the sidecar does not hold (a kill -9 right after a progress line resumes from at least what it showed).
  let ticking = false;
  const tick = async () => {
    if (ticking) return;
    ticking = true;
    try {
      const shot = snapshot();
      await Promise.all(tasks.filter((t) => state.get(t.id) === 'downloading').map((t) => t.part.save()));
      reporter.tick(shot);
    } finally {
      ticking = false;
    }
  };
  const timer = setInterval(() => void tick().catch(() => {}), 250);

  const mismatches: string[] = [];
  const onFileComplete = async (task: FileTask) => {
    state.set(task.id, 'verifying');
    event({ event: 'file_done', path: task.path, size: task.size, downloaded: task.downloaded });
    let hex: string;
    try {
      hex = await task.hasher.digest(task.size);
    } finally {
      task.hasher.close();
    }
    const expected = task.part.sha256;
    if (hex === expected) {
      await task.part.finish();
      state.set(task.id, 'verified');
      event({ event: 'verified', path: task.path, sha256: hex, already: false });
    } else {
      await task.part.discard();
      state.set(task.id, 'failed');
      mismatches.push(task.path);
      event({
        event: 'error',
        path: task.path,
        code: EXIT.verification,
        message: `SHA-256 mismatch (expected ${expected}, got ${hex}); the download was deleted`,
      });
    }
  };

  try {
    await transfer(tasks, { parallel: options.parallel, links, signal, onFileComplete });
  } finally {
    clearInterval(timer);
    // Whatever ended the transfer (done, Ctrl-C, a fatal error), the sidecars hold every byte written.
    for (const t of tasks) if (state.get(t.id) === 'downloading' || state.get(t.id) === 'verifying') t.hasher.close();
    await Promise.all(tasks.filter((t) => state.get(t.id) === 'downloading').map((t) => t.part.save().finally(() => t.part.close())));
    await tick().catch(() => {});
    reporter.stop();
  }
  const downloaded = tasks.reduce((n, t) => n + t.downloaded, 0);
  if (mismatches.length > 0) {
    throw new CliError(
      EXIT.verification,
      mismatches.length === 1
        ? `verification failed: ${mismatches[0]} does not match its SHA-256; it was deleted`
        : `verification failed: ${mismatches.length} files do not match their SHA-256 and were deleted: ${mismatches.join(', ')}`,
    );
  }
  const seconds = (Date.now() - started) / 1000;
  event({ event: 'done', status: 'ok', dir, files: files.length, downloaded, seconds });
  say(`Done: ${plural(files.length)} verified in ${dir}; ${formatBytes(downloaded)} downloaded in ${seconds.toFixed(1)} s.`);
}
