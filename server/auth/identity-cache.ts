import type postgres from 'postgres';
import { startListener } from '../db-listener.ts';
import type { Logger } from '../logger.ts';
import type { Actor } from '../workspaces/roles.ts';
import { hashToken } from './tokens.ts';

/**
 * Who a credential belongs to: all a request needs before its own row-level-security transaction. None
 * of it changes while the credential lives (a personal workspace is never deleted; a token's workspace
 * and scope are fixed); membership and role are not here, they are read per request.
 */
export interface CachedUser extends Actor {
  email: string;
  name: string;
}

/** The channel every process listens on; its payload is a credential's revocation key. */
export const REVOCATION_CHANNEL = 'identity_revoked';

/** How long an identity is believed without asking Postgres again: long enough for a busy client. */
const TTL_MS = 5_000;
/** Bounded: a flood of distinct valid credentials cannot grow the process without limit. */
const MAX_ENTRIES = 10_000;

interface Entry {
  user: CachedUser;
  until: number;
  revocationKey: string;
}

/**
 * Credential → user, kept in process for a few seconds so a request costs its own SQL and not a
 * lookup more. Only identity is cached, never what a user may see: that is Postgres's row-level
 * security in each request's own transaction.
 *
 * Revocation reaches every process through Postgres: the revoking transaction sends NOTIFY on
 * `identity_revoked` (delivered at its commit), each process's listener drops the entry at once, and the
 * process that revoked drops it synchronously. While a process's listener is not connected it could miss
 * a revocation, so it then caches nothing (every request asks Postgres) until it listens again, and it
 * forgets everything it held before. A revoked credential therefore stops everywhere within the time a
 * notification takes to arrive, milliseconds, far inside the 1 s bound the product promises.
 */
export class IdentityCache {
  readonly #entries = new Map<string, Entry>();
  /** Revocation key → cache keys (a session can be cached under several cookie headers). */
  readonly #byRevocationKey = new Map<string, Set<string>>();
  #listening = false;
  /** Counts revocations and listener changes: a lookup that began before one must not be cached. */
  #epoch = 0;

  constructor(private readonly clock: () => number = Date.now) {}

  /** The cached user for `key`, or null (not cached, expired, or the listener is down). */
  get(key: string): CachedUser | null {
    if (!this.#listening) return null;
    const entry = this.#entries.get(key);
    if (!entry) return null;
    if (entry.until <= this.clock()) {
      this.#delete(key, entry);
      return null;
    }
    return entry.user;
  }

  /** Take before asking Postgres, hand to `set`: a revocation that arrives meanwhile voids the answer. */
  epoch(): number {
    return this.#epoch;
  }

  /**
   * Remembers `user` for `key` until the TTL or `expiresAtMs` (the credential's own expiry), whichever is
   * first. `revocationKey` is what a revocation names (a token's hash, a session's hash). `epoch` is
   * `epoch()` from before the lookup: a revocation may have committed after Postgres answered it and been
   * announced before this call, and caching that answer would outlive the revocation.
   */
  set(key: string, user: CachedUser, revocationKey: string, expiresAtMs: number | null, epoch: number): void {
    if (!this.#listening || epoch !== this.#epoch) return;
    const now = this.clock();
    const until = Math.min(now + TTL_MS, expiresAtMs ?? Number.POSITIVE_INFINITY);
    if (until <= now) return;
    const old = this.#entries.get(key);
    if (old) this.#delete(key, old);
    if (this.#entries.size >= MAX_ENTRIES) {
      // Maps iterate in insertion order: the oldest entry goes first.
      const oldest = this.#entries.keys().next().value as string;
      this.#delete(oldest, this.#entries.get(oldest)!);
    }
    this.#entries.set(key, { user, until, revocationKey });
    const keys = this.#byRevocationKey.get(revocationKey);
    if (keys) keys.add(key);
    else this.#byRevocationKey.set(revocationKey, new Set([key]));
  }

  /** Drops every entry a revocation names. */
  revoke(revocationKey: string): void {
    this.#epoch++;
    const keys = this.#byRevocationKey.get(revocationKey);
    if (!keys) return;
    for (const key of [...keys]) {
      const entry = this.#entries.get(key);
      if (entry) this.#delete(key, entry);
    }
    this.#byRevocationKey.delete(revocationKey);
  }

  /** Called by the listener: caching is on only while revocations can reach this process. */
  setListening(listening: boolean): void {
    this.#listening = listening;
    this.#epoch++;
    this.#entries.clear();
    this.#byRevocationKey.clear();
  }

  /** Entries held now (for /readyz-style diagnostics and tests). */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether revocations can reach this process now, and so whether it caches. */
  get listening(): boolean {
    return this.#listening;
  }

  #delete(key: string, entry: Entry): void {
    this.#entries.delete(key);
    const keys = this.#byRevocationKey.get(entry.revocationKey);
    keys?.delete(key);
    if (keys?.size === 0) this.#byRevocationKey.delete(entry.revocationKey);
  }
}

/**
 * Keeps one connection LISTENing on `identity_revoked` and feeds its notifications to `cache`. When the
 * connection closes the cache stops caching at once; the listener reconnects (backing off to 5 s) and
 * caching resumes only once LISTEN has succeeded again.
 */
export async function listenForRevocations(databaseUrl: string, cache: IdentityCache, log: Logger): Promise<{ stop: () => Promise<void> }> {
  const listener = await startListener(databaseUrl, {
    name: 'lora-artifacts-identity',
    channels: [REVOCATION_CHANNEL],
    onNotify: (channel, payload) => {
      if (channel === REVOCATION_CHANNEL) cache.revoke(payload);
    },
    onDown: () => cache.setListening(false),
    onUp: () => cache.setListening(true),
    log,
    warning: 'identity cache: cannot listen for revocations; every request asks the database',
  });
  return {
    async stop() {
      cache.setListening(false);
      await listener.stop();
    },
  };
}

/** What a revocation of an API token names: its stored hash. */
export const tokenRevocationKey = (tokenHash: string) => `t:${tokenHash}`;

/** What a revocation of a dashboard session names: the hash of its token (never the token itself). */
export const sessionRevocationKey = (sessionToken: string) => `s:${hashToken(sessionToken)}`;

/**
 * A dashboard session ended (sign-out, or any deleted session): dropped from this process's cache at once,
 * and announced to every other process. The session row is already gone, so the NOTIFY needs no transaction.
 */
export async function announceSessionEnd(client: postgres.Sql, cache: IdentityCache, sessionToken: string): Promise<void> {
  const key = sessionRevocationKey(sessionToken);
  cache.revoke(key);
  await client`select pg_notify(${REVOCATION_CHANNEL}, ${key})`;
}
