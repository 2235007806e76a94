import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { notifications, trainingJobs } from '../../db/schema';

/**
 * The one way an ingest ends in failure: the job says "failed" with a readable error and its owner is
 * told, in one transaction, unless a concurrent attempt delivered the model meanwhile (then nothing
 * changes and this returns false).
 */
export async function markIngestFailed(db: Db, job: { id: string; userId: string; name: string }, message: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const rows = await tx
      .update(trainingJobs)
      .set({ ingestStatus: 'failed', ingestError: message, updatedAt: new Date() })
      .where(and(eq(trainingJobs.id, job.id), isNull(trainingJobs.artifactId)))
      .returning({ id: trainingJobs.id });
    if (rows.length === 0) return false;
    await tx.insert(notifications).values({
      userId: job.userId,
      type: 'ingest_failed',
      title: `Your model ${job.name} could not be delivered`,
      body: message,
      link: `/jobs?job=${job.id}`,
    });
    return true;
  });
}
