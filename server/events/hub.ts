import type { Db } from '../../db/client.ts';
import { REVOCATION_CHANNEL } from '../auth/identity-cache.ts';
import { startListener } from '../db-listener.ts';
import { ERRORS } from '../errors.ts';
import type { Logger } from '../logger.ts';
import * as q from './queries.ts';

/** An event as read back from live_events. */
type LiveRow = Awaited<ReturnType<typeof q.eventsByIds>>[number];

/** What a stream proves its caller with, so it ends when that credential does (revoked, signed out, expired). */
export interface StreamCredential {
  /** What `identity_revoked` names when this credential is revoked (auth/identity-cache.ts). */
  revocationKey: string;
  /** How the periodic check finds it still live. */
  check: { kind: 'token'; hash: string } | { kind: 'session'; id: string };
}

/** One `/api/events` connection, as the route hands it to the hub. */
export interface StreamSpec {
  userId: string;
  /** An API token's one workspace (it sees only that one); null: every workspace the user is a member of. */
  tokenWorkspaceId: string | null;
  /** Whether the user's own `notification` events are included (dashboard sessions; not workspace tokens). */
  userEvents: boolean;
  credential: StreamCredential;
  /** Queues one chunk for the client; false when it is too far behind, and the hub then ends the stream. */
  write(chunk: string): boolean;
  /** Ends the response (the client reconnects, and replays from its Last-Event-ID). */
  end(): void;
}

export interface HubOptions {
  /** A `: ping` comment to every stream this often (default 15 s): proxies keep the connection, clients see it alive. */
  heartbeatMs?: number;
  /** Memberships and credentials are re-read this often (default 30 s), for every stream in one query each. */
  refreshMs?: number;
  /** Open streams per user in this process (default 20); one more is refused with 429. */
  maxStreamsPerUser?: number;
}

/** Events a stream may hold while its replay is read; more and it is ended (it reconnects and replays). */
const MAX_PENDING = 1000;
/**
 * How far back a replay looks for events with a smaller id than Last-Event-ID. Ids are taken at insert and
 * seen at commit, so a transaction that took id 10 may commit after id 11 was streamed; a client that left in
 * between would never get 10 by "id > 11". The replay therefore also resends the caller's events with a smaller id
 * begun (created_at is the transaction's start) up to this long before the Last-Event-ID's event. The
 * transactions that publish are short (the longest, an ingest's delivery, takes about a second), so 30 s
 * covers them; the price is that a reconnect may repeat a few events. Events are "something changed" hints
 * the client refetches on, so a repeat is harmless; a client that must not act twice dedupes by id.
 * Rejected: tracking delivered ids per client (lost when the reconnect lands on another API process), and
 * holding events back until lower ids settle (an aborted transaction leaves a gap that never settles).
 */
const LATE_COMMIT_WINDOW_S = 30;
const REPLAY_LIMIT = 1000;
/** Ids the hub dispatched recently, so the catch-up after a listener reconnect does not send them twice. */
const SEEN_MS = 2 * 60_000;
const SEEN_MAX = 50_000;

interface Stream {
  spec: StreamSpec;
  workspaces: Set<string>;
  /** Live events that arrived while the replay was read; null once the stream is live. */
  pending: LiveRow[] | null;
  closed: boolean;
}

/** How a stream is left: by the route when its client goes away. */
export interface Subscription {
  close(): void;
}

function frame(row: LiveRow): string {
  return `id: ${row.id}\nevent: ${row.type}\ndata: ${JSON.stringify(row.data)}\n\n`;
}

/**
 * The fan-out of one API process: one LISTEN connection (see `startLiveEventHub`) hears every committed event's
 * id, the hub reads the announced rows in one query per burst, and hands each to the streams whose user it names
 * or who are members of its workspace. Memberships are read when a stream opens and re-read for all streams
 * together every `refreshMs`, so an event costs no query per stream. Each stream's buffer is bounded (the
 * route's queue): a client that cannot keep up is ended, reconnects and replays; memory never grows with it.
 */
export class LiveEventHub {
  readonly #streams = new Set<Stream>();
  readonly #perUser = new Map<string, number>();
  /** Dispatched id → when (insertion order is dispatch order), for the catch-up's dedupe. */
  readonly #seen = new Map<number, number>();
  #lastId = 0;
  readonly #announced: number[] = [];
  #draining = false;
  #timers: ReturnType<typeof setInterval>[] = [];
  readonly #maxPerUser: number;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    options: HubOptions = {},
  ) {
    this.#maxPerUser = options.maxStreamsPerUser ?? 20;
    this.#timers.push(setInterval(() => this.#heartbeat(), options.heartbeatMs ?? 15_000));
    this.#timers.push(
      setInterval(() => void this.refresh().catch((err) => log.warn('live events: refresh failed', { err })), options.refreshMs ?? 30_000),
    );
  }

  /** Open streams in this process (diagnostics and tests). */
  get size(): number {
    return this.#streams.size;
  }

  /** Where dispatch starts: events before it are never streamed live (they may be replayed). */
  startAt(id: number): void {
    this.#lastId = Math.max(this.#lastId, id);
  }

  /**
   * Opens a stream: reads the caller's memberships, replays their kept events after `lastEventId` (when given),
   * then streams live. Live events that arrive during the replay wait in order and are not sent twice.
   * Throws TOO_MANY_REQUESTS past the per-user limit.
   */
  async open(spec: StreamSpec, lastEventId: number | null): Promise<Subscription> {
    const open = this.#perUser.get(spec.userId) ?? 0;
    if (open >= this.#maxPerUser) throw ERRORS.tooManyRequests(`Too many open event streams for this user (at most ${this.#maxPerUser}).`, 5);
    const stream: Stream = { spec, workspaces: new Set(), pending: [], closed: false };
    this.#perUser.set(spec.userId, open + 1);
    this.#streams.add(stream);
    const subscription = { close: () => this.#close(stream) };
    try {
      stream.workspaces = this.#reach(
        spec,
        (await q.memberships(this.db, [spec.userId])).map((m) => m.workspaceId),
      );
      const sent = new Set<number>();
      if (lastEventId !== null) {
        const audience = { userId: spec.userEvents ? spec.userId : null, workspaceIds: [...stream.workspaces] };
        const rows = await q.eventsAfter(this.db, audience, lastEventId, { lateWindowSeconds: LATE_COMMIT_WINDOW_S, limit: REPLAY_LIMIT });
        for (const row of rows) {
          if (stream.closed) break;
          sent.add(row.id);
          this.#send(stream, row);
        }
      }
      const pending = stream.pending ?? [];
      stream.pending = null;
      for (const row of pending) if (!sent.has(row.id) && !stream.closed) this.#send(stream, row);
      return subscription;
    } catch (err) {
      this.#close(stream);
      throw err;
    }
  }

  /** Ids announced by NOTIFY: read in one query per burst (a commit's several events arrive together). */
  announced(ids: readonly number[]): void {
    this.#announced.push(...ids);
    if (this.#draining) return;
    this.#draining = true;
    // A macrotask later, so every notification of the same socket read joins the batch.
    setTimeout(() => void this.#drain(), 0);
  }

  /** A credential was revoked (`identity_revoked`): its streams end now, not at the next refresh. */
  revoked(revocationKey: string): void {
    for (const s of this.#streams) if (s.spec.credential.revocationKey === revocationKey) this.#close(s);
  }

  /**
   * After the listener was away: what committed meanwhile (a larger id, or begun in the late-commit window) is
   * dispatched now, minus what was already, and memberships and credentials are checked (a revocation may be missed).
   */
  async caughtUp(): Promise<void> {
    const rows = await q.recentEvents(this.db, this.#lastId, LATE_COMMIT_WINDOW_S, 5000);
    this.#dispatch(rows);
    await this.refresh();
  }

  /** Re-reads every stream's memberships and credential, in one query each; ends the streams whose credential ended. */
  async refresh(): Promise<void> {
    this.#forgetSeen();
    if (this.#streams.size === 0) return;
    const streams = [...this.#streams];
    const tokens = streams.flatMap((s) => (s.spec.credential.check.kind === 'token' ? [s.spec.credential.check.hash] : []));
    const sessions = streams.flatMap((s) => (s.spec.credential.check.kind === 'session' ? [s.spec.credential.check.id] : []));
    const [members, liveTokens, liveSessions] = await Promise.all([
      q.memberships(this.db, [...new Set(streams.map((s) => s.spec.userId))]),
      q.liveTokenHashes(this.db, tokens),
      q.liveSessionIds(this.db, sessions),
    ]);
    const byUser = new Map<string, string[]>();
    for (const m of members) byUser.set(m.userId, [...(byUser.get(m.userId) ?? []), m.workspaceId]);
    for (const s of streams) {
      const check = s.spec.credential.check;
      const live = check.kind === 'token' ? liveTokens.has(check.hash) : liveSessions.has(check.id);
      if (!live) this.#close(s);
      else s.workspaces = this.#reach(s.spec, byUser.get(s.spec.userId) ?? []);
    }
  }

  /** Ends every stream and the timers (the process is stopping). */
  stop(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    for (const s of [...this.#streams]) this.#close(s);
  }

  #reach(spec: StreamSpec, memberOf: readonly string[]): Set<string> {
    return new Set(spec.tokenWorkspaceId ? memberOf.filter((w) => w === spec.tokenWorkspaceId) : memberOf);
  }

  async #drain(): Promise<void> {
    while (this.#announced.length > 0) {
      const ids = this.#announced.splice(0, 500);
      let rows: LiveRow[];
      try {
        rows = await q.eventsByIds(this.db, ids);
      } catch (err) {
        // The database is away: keep the ids and try again shortly (streams meanwhile stay quiet, not wrong).
        this.log.warn('live events: cannot read announced events; retrying', { err });
        this.#announced.unshift(...ids);
        setTimeout(() => void this.#drain(), 1000);
        return;
      }
      // In the order they were announced: commit order.
      const byId = new Map(rows.map((r) => [r.id, r]));
      this.#dispatch(ids.flatMap((id) => byId.get(id) ?? []));
    }
    this.#draining = false;
  }

  #dispatch(rows: readonly LiveRow[]): void {
    const now = Date.now();
    for (const row of rows) {
      if (this.#seen.has(row.id)) continue;
      this.#seen.set(row.id, now);
      if (row.id > this.#lastId) this.#lastId = row.id;
      for (const s of this.#streams) {
        const forUser = row.userId !== null && s.spec.userEvents && row.userId === s.spec.userId;
        const forWorkspace = row.workspaceId !== null && s.workspaces.has(row.workspaceId);
        if (!forUser && !forWorkspace) continue;
        if (s.pending) {
          s.pending.push(row);
          if (s.pending.length > MAX_PENDING) this.#close(s);
        } else this.#send(s, row);
      }
    }
    if (this.#seen.size > SEEN_MAX) this.#forgetSeen();
  }

  #send(s: Stream, row: LiveRow): void {
    if (!s.spec.write(frame(row))) this.#close(s);
  }

  #heartbeat(): void {
    for (const s of this.#streams) if (!s.pending && !s.spec.write(': ping\n\n')) this.#close(s);
  }

  #forgetSeen(): void {
    const before = Date.now() - SEEN_MS;
    for (const [id, at] of this.#seen) {
      if (at >= before && this.#seen.size <= SEEN_MAX) break;
      this.#seen.delete(id);
    }
  }

  #close(s: Stream): void {
    if (s.closed) return;
    s.closed = true;
    this.#streams.delete(s);
    const n = (this.#perUser.get(s.spec.userId) ?? 1) - 1;
    if (n > 0) this.#perUser.set(s.spec.userId, n);
    else this.#perUser.delete(s.spec.userId);
    s.spec.end();
  }
}

/**
 * The hub of an API process and its one dedicated LISTEN connection (`live_events` for events,
 * `identity_revoked` to end a revoked credential's streams at once). As for the identity cache's listener
 * (auth/identity-cache.ts), a closed connection reconnects, backing off to 5 s; once listening again the hub
 * catches up on what committed meanwhile, so a stream misses nothing a short outage hid.
 */
export async function startLiveEventHub(
  databaseUrl: string,
  db: Db,
  log: Logger,
  options: HubOptions = {},
): Promise<{ hub: LiveEventHub; stop: () => Promise<void> }> {
  const startAt = await q.lastEventId(db);
  const hub = new LiveEventHub(db, log, options);
  hub.startAt(startAt);
  const listener = await startListener(databaseUrl, {
    name: 'lora-artifacts-events',
    channels: [q.LIVE_EVENTS_CHANNEL, REVOCATION_CHANNEL],
    onNotify: (channel, payload) => {
      if (channel === q.LIVE_EVENTS_CHANNEL) {
        const id = Number(payload);
        if (Number.isSafeInteger(id)) hub.announced([id]);
      } else if (channel === REVOCATION_CHANNEL) hub.revoked(payload);
    },
    onUp: async (afterDrop) => {
      if (afterDrop) await hub.caughtUp().catch((err) => log.warn('live events: catch-up after reconnect failed', { err }));
    },
    log,
    warning: 'live events: cannot listen; streams are quiet until it can',
  });
  return {
    hub,
    async stop() {
      hub.stop();
      await listener.stop();
    },
  };
}
