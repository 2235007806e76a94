/**
 * A run's curve, completed from its output: when the worker reported fewer points than a trainer file holds (often
 * none: the curve sits in trainer_state.json), the file's points join the job's metrics, the worker's winning on a
 * shared step. Stored with their source, so scoring, the chart and checkpoint ranking read one curve, a retried
 * ingest adds nothing twice, and the model says where its curve came from.
 */
import type { Db } from '../../db/client.ts';
import { upsertMetrics } from '../jobs/queries.ts';
import { pointsFrom } from '../ingest/queries.ts';
import { type ColumnarCurve, type OutputReport, pointsOf } from './types.ts';

/** Points a statement writes at most (each a row of five array elements). */
const BATCH = 10_000;
const MAX_STEP = 2 ** 31 - 1;

export async function mergeOutputCurve(db: Db, jobId: string, curve: ColumnarCurve | null): Promise<OutputReport['curve']> {
  const workerPoints = await pointsFrom(db, jobId, 'worker');
  const worker = workerPoints > 0 ? (['worker'] as const) : ([] as const);
  if (curve === null) return { sources: [...worker], workerPoints, file: null };
  const columns = curve.points;
  // Steps a Postgres int4 holds; a trainer's step is a non-negative integer (the readers keep no other).
  let valid = 0;
  for (let i = 0; i < columns.length; i++) if (Number.isInteger(columns.step[i]) && columns.step[i]! >= 0 && columns.step[i]! <= MAX_STEP) valid++;
  const file = { source: curve.source, path: curve.path, points: valid, added: 0 };
  if (valid <= workerPoints) return { sources: [...worker], workerPoints, file };
  await db.transaction(async (tx) => {
    // A batch at a time: each statement's text is built between round trips, so the event loop keeps its turns.
    for (let i = 0; i < columns.length; i += BATCH) {
      const batch = pointsOf(columns, i, i + BATCH).filter((p) => Number.isInteger(p.step) && p.step >= 0 && p.step <= MAX_STEP);
      if (batch.length > 0) await upsertMetrics(tx, jobId, batch, { source: curve.source, keep: true });
    }
  });
  file.added = await pointsFrom(db, jobId, curve.source);
  return { sources: file.added > 0 ? [...worker, curve.source] : [...worker], workerPoints, file };
}
