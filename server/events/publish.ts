import type { Db, Tx } from '../../db/client.ts';
import type { IngestStatus, JobStatus } from '../vocabulary.ts';
import * as q from './queries.ts';

/**
 * What `GET /api/events` streams, by event name (`event:` line); `data:` is the JSON of its value. The
 * format is public (the CLI and the dashboard read it; README "Live updates").
 */
export interface LiveEventData {
  /** A notification of one user (notifications.list shows the same row). */
  notification: { id: string; type: string; title: string; body: string | null; link: string | null; createdAt: string };
  /** A training job's status or its ingest's changed. */
  job: {
    jobId: string;
    workspaceId: string;
    name: string;
    status: JobStatus;
    ingestStatus: IngestStatus;
    ingestError: string | null;
    artifactId: string | null;
  };
  /** A GGUF export's status changed. */
  export: {
    exportId: string;
    artifactId: string;
    workspaceId: string;
    status: 'queued' | 'running' | 'ready' | 'failed';
    fileId: string | null;
    error: string | null;
  };
}
export type LiveEventType = keyof LiveEventData;

/** Who an event is for: one user, or every member of a workspace (read-scoped tokens included). */
type Audience = { userId: string } | { workspaceId: string };

/**
 * Records a live event in `tx` and announces it (NOTIFY at commit) to every API process, which streams it
 * to the audience's open `/api/events` connections. Nothing is heard if `tx` rolls back.
 */
export async function publishLiveEvent<T extends LiveEventType>(tx: Db | Tx, audience: Audience, type: T, data: LiveEventData[T]): Promise<void> {
  await q.insertLiveEvents(tx, [
    { userId: 'userId' in audience ? audience.userId : null, workspaceId: 'workspaceId' in audience ? audience.workspaceId : null, type, data },
  ]);
}

/** One `notification` event per row just inserted (each to its own user), in one statement. */
export async function publishNotifications(
  tx: Tx,
  rows: readonly { id: string; userId: string; type: string; title: string; body: string | null; link: string | null; createdAt: Date }[],
): Promise<void> {
  await q.insertLiveEvents(
    tx,
    rows.map(({ userId, createdAt, ...n }) => ({
      userId,
      workspaceId: null,
      type: 'notification',
      data: { ...n, createdAt: createdAt.toISOString() } satisfies LiveEventData['notification'],
    })),
  );
}

/** A `job` event with the job as it stands in `tx` (call it after the change, in the same transaction). */
export async function publishJobChange(tx: Db | Tx, jobId: string): Promise<void> {
  const job = await q.jobEventData(tx, jobId);
  if (job) await publishLiveEvent(tx, { workspaceId: job.workspaceId }, 'job', job);
}

/** An `export` event with the export as it stands in `tx` (call it after the change, in the same transaction). */
export async function publishExportChange(tx: Db | Tx, exportId: string): Promise<void> {
  const e = await q.exportEventData(tx, exportId);
  if (e) await publishLiveEvent(tx, { workspaceId: e.workspaceId }, 'export', e);
}
