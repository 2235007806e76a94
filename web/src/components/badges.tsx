import { type JSX, Show } from 'solid-js';
import type { ConvergenceLabel, IngestStatus, JobStatus } from '../../../server/vocabulary.ts';

/** Display names of the convergence labels; typed by the union, so a new label fails to compile until it has one. */
export const CONVERGENCE_LABEL: Record<ConvergenceLabel, string> = {
  excellent: 'Excellent',
  good: 'Good',
  fair: 'Fair',
  poor: 'Poor',
  overfit: 'Overfit',
};

/**
 * Convergence quality: excellent blue, good green, fair yellow, poor red, overfit orange. An unrated run shows
 * `fallback` (nothing by default): the stars beside it already say "Not rated", once.
 */
export function ConvergenceBadge(props: { value: ConvergenceLabel | null | undefined; fallback?: JSX.Element }) {
  return (
    <Show when={props.value} fallback={props.fallback}>
      {(v) => (
        <span class={`badge badge-${v()}`} data-convergence={v()}>
          {CONVERGENCE_LABEL[v()]}
        </span>
      )}
    </Show>
  );
}

const STATUS_TONE: Record<JobStatus | IngestStatus, 'good' | 'info' | 'neutral' | 'bad'> = {
  ready: 'good',
  completed: 'good',
  running: 'info',
  ingesting: 'info',
  pending: 'neutral',
  queued: 'neutral',
  none: 'neutral',
  failed: 'bad',
  cancelled: 'neutral',
};

/** A job or ingest status as a small coloured pill. */
export function StatusBadge(props: { status: JobStatus | IngestStatus; label?: string }) {
  return (
    <span class={`badge badge-tone-${STATUS_TONE[props.status]}`} data-status={props.status}>
      {props.label ?? props.status.charAt(0).toUpperCase() + props.status.slice(1)}
    </span>
  );
}
