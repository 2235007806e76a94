import { REVOCATION_CHANNEL, sessionRevocationKey, tokenRevocationKey } from '../auth/identity-cache.ts';
import type { Deps } from '../deps.ts';
import { artifactIdFor, storagePrefix } from '../ingest/artifact-id.ts';
import { enqueuePurge } from '../storage/purge-objects.job.ts';
import { notifyRevocation } from '../tokens/queries.ts';
import * as q from './queries.ts';

/**
 * Deleting an account: refused while it is the only owner of a team workspace (the team would be left
 * with no one to run it); otherwise its personal workspace goes with it, by cascade. What must follow the
 * rows out (the stored objects, the identity cache's entries) is noted before and done after, so a delete
 * that fails changes nothing.
 */
export function accountDeletion(deps: Pick<Deps, 'database' | 'boss' | 'identities'>) {
  const pending = new Map<string, Awaited<ReturnType<typeof q.accountLeftovers>>>();
  return {
    async before(user: { id: string }): Promise<string | null> {
      const teams = await q.solelyOwned(deps.database.db, user.id);
      if (teams.length > 0) {
        return `You are the only owner of ${teams.join(', ')}: make someone else an owner there, or delete it, before deleting your account.`;
      }
      pending.set(user.id, await q.accountLeftovers(deps.database.db, user.id));
      return null;
    },
    async after(user: { id: string }): Promise<void> {
      const left = pending.get(user.id);
      pending.delete(user.id);
      if (!left) return;
      const keys = [...left.tokenHashes.map(tokenRevocationKey), ...left.sessionTokens.map(sessionRevocationKey)];
      for (const key of keys) deps.identities.revoke(key);
      await deps.database.db.transaction(async (tx) => {
        for (const key of keys) await notifyRevocation(tx, REVOCATION_CHANNEL, key);
        const prefixes = [...new Set([...left.prefixes, ...left.jobIds.map((id) => storagePrefix(artifactIdFor(id)))])];
        await enqueuePurge(deps.boss, tx, prefixes);
      });
    },
  };
}
