/**
 * The bytes: signed links (refreshed when they expire), and a pool of `parallel` connections working through
 * pieces in file order. A small file is one piece; a large one (RANGED_MIN_BYTES and up) is cut into PIECE_BYTES
 * ranges fetched side by side with `Range: bytes=a-b` (206 and its Content-Range checked), so the run of bytes on
 * disk from offset 0, which the hasher follows, grows about as fast as the whole download. Retries live here and
 * only here: a failed or stalled request is asked again from the bytes already written.
 */
import { CliError, EXIT, isNetworkError } from './errors.ts';
import type { FileHasher } from './hasher.ts';
import type { PartFile } from './part-file.ts';

/** What models.download answers: one signed link per file, all valid until `expiresAt`. */
export interface LinkSet {
  files: { id: string; path: string; sizeBytes: number; sha256: string; url: string }[];
  expiresAt: string;
}

const RANGED_MIN_BYTES = 64 * 1024 * 1024;
const PIECE_BYTES = 32 * 1024 * 1024;
/** A request that brought no byte for this long is dropped and asked again. */
const STALL_ABORT_MS = 60_000;
const MAX_ATTEMPTS = 6;
/** Fresh links in a row that storage still refuses before we give up on a file. */
const MAX_REFUSALS = 3;

/**
 * The current link of each file. A link is renewed before it expires (a fifth of its lifetime ahead, at most
 * 30 s) and when storage refuses it (403/401/400/410: an expired or revoked signature); one request to the service
 * renews the links of every file still to fetch, however many connections asked.
 */
export class Links {
  private readonly urls = new Map<string, string>();
  private expiresAtMs = 0;
  private marginMs = 0;
  private refreshing: Promise<void> | null = null;
  private renewedAt = 0;

  constructor(
    first: LinkSet,
    private readonly renew: (fileIds: string[]) => Promise<LinkSet>,
    /** Ids of the files not yet complete: the ones worth renewing. */
    private readonly pendingIds: () => string[],
    private readonly onRenewed: (reason: 'expiring' | 'refused', files: number) => void,
  ) {
    this.take(first);
  }

  private take(set: LinkSet): void {
    for (const f of set.files) this.urls.set(f.id, f.url);
    const now = Date.now();
    this.renewedAt = now;
    this.expiresAtMs = Date.parse(set.expiresAt);
    this.marginMs = Math.min(30_000, Math.max(0, (this.expiresAtMs - now) / 5));
  }

  private refresh(reason: 'expiring' | 'refused'): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const ids = this.pendingIds();
        if (ids.length === 0) return;
        const set = await this.renew(ids);
        this.take(set);
        this.onRenewed(reason, set.files.length);
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  async url(fileId: string): Promise<string> {
    if (this.refreshing) await this.refreshing;
    // Not again within a second of a renewal: a clock far from the service's would otherwise renew before every request
    // (a link that really expired is still caught by storage's refusal).
    const now = Date.now();
    if (now >= this.expiresAtMs - this.marginMs && now - this.renewedAt > 1000) await this.refresh('expiring');
    const url = this.urls.get(fileId);
    if (!url) throw new CliError(EXIT.failure, `the service gave no link for file ${fileId}`);
    return url;
  }

  /** Storage refused `url`: renew, unless a renewal since it was handed out already replaced it. */
  async refused(fileId: string, url: string): Promise<void> {
    if (this.refreshing) await this.refreshing;
    if (this.urls.get(fileId) === url) await this.refresh('refused');
  }
}

/** One file of a pull: where its bytes go, what hashes them, and what this run did. */
export interface FileTask {
  id: string;
  path: string;
  size: number;
  part: PartFile;
  hasher: FileHasher;
  /** Bytes fetched by this run. */
  downloaded: number;
  /** When the last byte arrived (or the file's first request started); `stalled` is read from it. */
  lastByteAt: number;
  /** Requests in flight for this file. */
  active: number;
}

interface Piece {
  task: FileTask;
  start: number;
  end: number;
}

/** The pieces still to fetch, in file order, each file's in offset order. */
function planPieces(tasks: FileTask[]): Piece[] {
  const pieces: Piece[] = [];
  for (const task of tasks) {
    for (const [a, b] of task.part.missing()) {
      const step = task.size >= RANGED_MIN_BYTES ? PIECE_BYTES : b - a;
      for (let at = a; at < b; at += step) pieces.push({ task, start: at, end: Math.min(b, at + step) });
    }
  }
  return pieces;
}

class RetryableError extends Error {}

/** `bytes 0-99/1000` → its numbers; `*` for an unknown total is -1. */
function contentRange(header: string | null): { start: number; end: number; total: number } | null {
  const m = header ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim()) : null;
  return m ? { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? -1 : Number(m[3]) } : null;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Fetches `[piece.start, piece.end)` of its file, asking again from the bytes written after a failure. */
async function fetchPiece(piece: Piece, links: Links, signal: AbortSignal): Promise<void> {
  const { task } = piece;
  let at = piece.start;
  let attempt = 0;
  let refusals = 0;
  while (at < piece.end) {
    signal.throwIfAborted();
    const url = await links.url(task.id);
    // This request's own silence (another connection of the same file may be flowing).
    let lastByte = Date.now();
    const stall = new AbortController();
    const watchdog = setInterval(() => {
      if (Date.now() - lastByte > STALL_ABORT_MS) stall.abort(new RetryableError(`no data for ${STALL_ABORT_MS / 1000} s`));
    }, 1000);
    task.active++;
    task.lastByteAt = Math.max(task.lastByteAt, lastByte);
    try {
      const res = await fetch(url, { headers: { range: `bytes=${at}-${piece.end - 1}` }, signal: AbortSignal.any([signal, stall.signal]) });
      if (res.status === 401 || res.status === 403 || res.status === 400 || res.status === 410) {
        await res.body?.cancel();
        if (++refusals > MAX_REFUSALS) throw new CliError(EXIT.auth, `${task.path}: storage refuses fresh links too (HTTP ${res.status})`);
        await links.refused(task.id, url);
        continue;
      }
      if (res.status === 404) throw new CliError(EXIT.notFound, `${task.path}: no longer in storage (HTTP 404)`);
      if (res.status === 416)
        throw new CliError(EXIT.verification, `${task.path}: storage holds fewer bytes than the ${task.size} recorded (HTTP 416)`);
      if (res.status !== 200 && res.status !== 206) {
        await res.body?.cancel();
        throw new RetryableError(`HTTP ${res.status}`);
      }
      // A 200 is the whole object (a server may ignore Range): skip to where this piece resumes.
      let skip = res.status === 200 ? at : 0;
      if (res.status === 206) {
        const range = contentRange(res.headers.get('content-range'));
        if (!range || range.start !== at || range.end >= piece.end || (range.total !== -1 && range.total !== task.size)) {
          await res.body?.cancel();
          throw new CliError(
            EXIT.verification,
            `${task.path}: storage answered bytes ${res.headers.get('content-range')} for ${at}-${piece.end - 1} of ${task.size}`,
          );
        }
      }
      if (!res.body) throw new RetryableError('empty body');
      const reader = res.body.getReader();
      try {
        while (at < piece.end) {
          const { done, value } = await reader.read();
          if (done) break;
          let chunk = value;
          if (skip > 0) {
            const n = Math.min(skip, chunk.byteLength);
            skip -= n;
            chunk = chunk.subarray(n);
          }
          if (chunk.byteLength > piece.end - at) chunk = chunk.subarray(0, piece.end - at);
          if (chunk.byteLength === 0) continue;
          task.part.write(at, chunk);
          at += chunk.byteLength;
          task.downloaded += chunk.byteLength;
          lastByte = Date.now();
          task.lastByteAt = lastByte;
          task.hasher.advance(task.part.contiguous);
          // Bytes arrived: a later failure starts its count of attempts afresh.
          attempt = 0;
          refusals = 0;
        }
      } finally {
        if (at >= piece.end) await reader.cancel().catch(() => {});
        reader.releaseLock();
      }
      if (at < piece.end) throw new RetryableError('the connection closed early');
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (err instanceof CliError) throw err;
      const retryable =
        err instanceof RetryableError || stall.signal.aborted || isNetworkError(err) || (err instanceof Error && err.name === 'AbortError');
      if (!retryable) throw err;
      if (++attempt >= MAX_ATTEMPTS) {
        const why = stall.signal.aborted ? (stall.signal.reason as Error).message : (err as Error).message;
        throw new CliError(EXIT.unavailable, `${task.path}: download failed ${MAX_ATTEMPTS} times in a row (last: ${why})`);
      }
      await sleep(Math.min(8000, 500 * 2 ** (attempt - 1)), signal);
    } finally {
      clearInterval(watchdog);
      task.active--;
    }
  }
}

/**
 * Fetches every missing byte of `tasks` over at most `parallel` connections. `onFileComplete` runs (not
 * awaited by the pool: verifying must not hold a connection) as soon as each file has all its bytes on disk.
 * The first fatal error stops every connection and is thrown; `signal` stops them all too (Ctrl-C).
 */
export async function transfer(
  tasks: FileTask[],
  options: { parallel: number; links: Links; signal: AbortSignal; onFileComplete: (task: FileTask) => Promise<void> },
): Promise<void> {
  const pieces = planPieces(tasks);
  const left = new Map<FileTask, number>();
  for (const p of pieces) left.set(p.task, (left.get(p.task) ?? 0) + 1);
  const completions: Promise<void>[] = [];
  // A file already complete on disk (its part fully written by an earlier run) goes straight to verification.
  for (const task of tasks) if (!left.has(task)) completions.push(options.onFileComplete(task));

  const stop = new AbortController();
  const signal = AbortSignal.any([options.signal, stop.signal]);
  let fatal: unknown = null;
  let next = 0;
  const worker = async () => {
    while (!signal.aborted && next < pieces.length) {
      const piece = pieces[next++]!;
      try {
        await fetchPiece(piece, options.links, signal);
      } catch (err) {
        if (!signal.aborted) {
          fatal = err;
          stop.abort(err);
        }
        return;
      }
      const remaining = left.get(piece.task)! - 1;
      left.set(piece.task, remaining);
      if (remaining === 0) completions.push(options.onFileComplete(piece.task));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.parallel, pieces.length)) }, worker));
  if (fatal) {
    await Promise.allSettled(completions);
    throw fatal;
  }
  await Promise.all(completions);
  if (options.signal.aborted) throw options.signal.reason;
}
