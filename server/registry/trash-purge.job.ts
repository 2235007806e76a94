import { z } from 'zod';
import { defineJob } from '../queue/define-job.ts';
import { expiredTrash } from './trash-queries.ts';
import { purgeModels } from './trash.ts';

/** Models purged per transaction: each batch commits (and enqueues its objects' deletion) on its own. */
const BATCH = 200;

/**
 * Every hour, purges the models that have been in the trash for TRASH_RETENTION_DAYS: rows, tombstones and
 * the deletion of their objects, through the same `purgeModels` as models.purge. A model restored meanwhile
 * is no longer expired; one being restored right now is locked and skipped until the next run.
 */
export const trashPurgeJob = defineJob({
  name: 'trash-purge',
  payload: z.object({}).loose(),
  // notify: the worker starts as soon as the cron (or anyone) sends it, not at its next poll.
  queue: { policy: 'singleton', notify: true, expireInSeconds: 30 * 60, retryLimit: 0 },
  work: { pollingIntervalSeconds: 30 },
  cron: '7 * * * *',
  async handle(deps) {
    const { db } = deps.database;
    let purged = 0;
    for (;;) {
      const { n, full } = await db.transaction(async (tx) => {
        const ids = await expiredTrash(tx, deps.env.trashRetentionDays, BATCH);
        return { n: await purgeModels(deps.boss, tx, ids), full: ids.length === BATCH };
      });
      purged += n;
      if (!full) break;
    }
    if (purged) deps.log.info('trash purged', { models: purged, retentionDays: deps.env.trashRetentionDays });
    return { status: 'completed', output: { purged } };
  },
});
