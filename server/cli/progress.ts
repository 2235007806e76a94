/**
 * What a pull tells its user: on a terminal, cli-progress bars (the whole pull, and each file in flight)
 * redrawn from a timer, so a stalled connection still updates and says "stalled"; otherwise (a pipe, a CI log,
 * or --json) one JSON line per event on stdout, `progress` at most once a second.
 */
import cliProgress from 'cli-progress';
import { formatBytes } from './format.ts';

export type FileState = 'queued' | 'downloading' | 'stalled' | 'verifying' | 'verified' | 'failed';

/** The events of a pull, as written one per line (README "JSON lines"). */
export type PullEvent =
  | { event: 'start'; model: { id: string; ref: string; name: string }; dir: string; files: number; bytes: number; present: number; toFetch: number }
  | { event: 'file_start'; path: string; size: number; resumeFrom: number }
  | { event: 'file_done'; path: string; size: number; downloaded: number }
  | { event: 'verified'; path: string; sha256: string; already: boolean }
  | { event: 'refresh_links'; reason: 'expiring' | 'refused'; files: number }
  | { event: 'error'; message: string; code: number; path?: string }
  | { event: 'done'; status: 'ok' | 'nothing_to_download'; dir: string; files: number; downloaded: number; seconds: number };

export interface Snapshot {
  /** Bytes of the pull on disk (verified files included) and its total. */
  bytes: number;
  total: number;
  /** Bytes fetched by this run. */
  downloaded: number;
  files: { path: string; size: number; bytes: number; state: FileState }[];
}

export interface Reporter {
  event(e: PullEvent): void;
  /** Called several times a second while the pull runs. */
  tick(snapshot: Snapshot): void;
  /** Ends the display (bars are cleared before a final message). */
  stop(): void;
}

/** Bytes per second over the last few seconds of ticks. */
class Speed {
  private readonly samples: { at: number; bytes: number }[] = [{ at: Date.now(), bytes: 0 }];
  sample(bytes: number): number {
    const now = Date.now();
    this.samples.push({ at: now, bytes });
    while (this.samples.length > 2 && now - this.samples[0]!.at > 3000) this.samples.shift();
    const first = this.samples[0]!;
    return now > first.at ? ((bytes - first.bytes) * 1000) / (now - first.at) : 0;
  }
}

export function jsonReporter(write: (line: string) => void = (line) => process.stdout.write(line)): Reporter {
  const speed = new Speed();
  let lastProgress = 0;
  const emit = (value: object) => write(`${JSON.stringify(value)}\n`);
  return {
    event: (e) => emit(e),
    tick(s) {
      const bytesPerSecond = Math.round(speed.sample(s.downloaded));
      if (Date.now() - lastProgress < 1000) return;
      lastProgress = Date.now();
      const active = s.files.filter((f) => f.state === 'downloading' || f.state === 'stalled' || f.state === 'verifying');
      emit({ event: 'progress', bytes: s.bytes, total: s.total, downloaded: s.downloaded, bytesPerSecond, files: active });
    },
    stop() {},
  };
}

const STATE_LABEL: Record<FileState, string> = {
  queued: 'queued',
  downloading: '',
  stalled: 'stalled',
  verifying: 'verifying',
  verified: 'verified',
  failed: 'FAILED',
};

/** The bars, on stderr; the summary lines of the pull go to stdout after `stop`. */
export function barsReporter(): Reporter {
  const multibar = new cliProgress.MultiBar(
    {
      format: ' {name} |{bar}| {percentage}% {amount} {speed} {state}',
      barsize: 28,
      hideCursor: true,
      // Redraw on its own timer (every 200 ms) whether bytes arrive or not.
      fps: 5,
      autopadding: true,
      gracefulExit: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const totalSpeed = new Speed();
  const fileSpeeds = new Map<string, Speed>();
  const bars = new Map<string, cliProgress.SingleBar>();
  let total: cliProgress.SingleBar | null = null;
  let stopped = false;
  const width = Math.max(16, Math.min(40, (process.stderr.columns ?? 100) - 70));
  const name = (path: string) => (path.length <= width ? path.padEnd(width) : `…${path.slice(-(width - 1))}`);
  return {
    event(e) {
      if (e.event === 'start' && e.toFetch > 0)
        total = multibar.create(Math.max(1, e.bytes), 0, { name: name('total'), amount: '', speed: '', state: '' });
      if (e.event === 'verified' && !e.already) multibar.log(` ✓ ${e.path}\n`);
      if (e.event === 'refresh_links') multibar.log(` links renewed (${e.reason})\n`);
      if (e.event === 'error' && e.path) multibar.log(` ✗ ${e.path}: ${e.message}\n`);
    },
    tick(s) {
      const rate = totalSpeed.sample(s.downloaded);
      total?.update(s.bytes, { amount: `${formatBytes(s.bytes)}/${formatBytes(s.total)}`, speed: `${formatBytes(rate)}/s`, state: '' });
      for (const f of s.files) {
        let bar = bars.get(f.path);
        const inFlight = f.state === 'downloading' || f.state === 'stalled' || f.state === 'verifying';
        if (!bar && inFlight) {
          bar = multibar.create(Math.max(1, f.size), f.bytes, { name: name(f.path) });
          bars.set(f.path, bar);
          fileSpeeds.set(f.path, new Speed());
        }
        if (!bar) continue;
        if (!inFlight) {
          multibar.remove(bar);
          bars.delete(f.path);
          continue;
        }
        const r = fileSpeeds.get(f.path)!.sample(f.bytes);
        bar.update(f.bytes, {
          name: name(f.path),
          amount: `${formatBytes(f.bytes)}/${formatBytes(f.size)}`,
          speed: f.state === 'downloading' ? `${formatBytes(r)}/s` : '',
          state: STATE_LABEL[f.state],
        });
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      multibar.stop();
    },
  };
}
