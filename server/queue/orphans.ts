import type { PgBoss } from 'pg-boss';
import type { Database } from '../../db/client.ts';
import type { Logger } from '../logger.ts';
import { JOBS } from './registry.ts';

/**
 * Hands back the jobs a killed process was running. Only for an embedded cluster this process has just
 * started: nobody else can have been connected to it (its port is new at every start), so every job it
 * shows as active was claimed by a worker that is gone. Failing them through pg-boss puts them on their
 * normal retry path at once, instead of after the missed heartbeat (30 s) plus a supervise pass (60 s).
 * Never called with DATABASE_URL, where a live worker of another process may hold an active job.
 */
export async function releaseOrphanedJobs(boss: PgBoss, database: Database, log: Logger): Promise<number> {
  let released = 0;
  for (const def of JOBS) {
    const rows = await database.client<{ id: string }[]>`select id from pgboss.job where name = ${def.name} and state = 'active'`;
    if (!rows.length) continue;
    await boss.fail(
      def.name,
      rows.map((r) => r.id),
      { error: 'the worker running this job stopped with its process' },
    );
    released += rows.length;
  }
  if (released) log.warn('released jobs left active by a stopped process', { released });
  return released;
}
