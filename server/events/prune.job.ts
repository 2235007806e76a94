import { z } from 'zod';
import { defineJob } from '../queue/define-job.ts';
import { pruneLiveEvents } from './queries.ts';

/**
 * Live events are kept for replay after a short disconnect (`Last-Event-ID`), not as a history: 15 minutes
 * is many reconnects' worth. A client away longer refetches what it shows (the dashboard does on reconnect).
 */
const LIVE_EVENT_RETENTION_SECONDS = 15 * 60;

/** Every minute, the live events past their retention go (one statement, by the created_at index). */
export const liveEventsPruneJob = defineJob({
  name: 'live-events-prune',
  payload: z.object({}).loose(),
  queue: { policy: 'singleton', expireInSeconds: 60, retryLimit: 0 },
  work: { pollingIntervalSeconds: 5 },
  cron: '* * * * *',
  async handle(deps) {
    const deleted = await pruneLiveEvents(deps.database.db, LIVE_EVENT_RETENTION_SECONDS);
    return { status: 'completed', output: { deleted } };
  },
});
