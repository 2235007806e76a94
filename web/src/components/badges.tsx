import { Show } from 'solid-js';

const LABEL: Record<string, string> = { excellent: 'Excellent', good: 'Good', fair: 'Fair', poor: 'Poor', overfit: 'Overfit' };

/** Convergence quality: excellent blue, good green, fair yellow, poor red, overfit orange. */
export function ConvergenceBadge(props: { value: string | null | undefined }) {
  return (
    <Show when={props.value} fallback={<span class="badge badge-none">Not rated</span>}>
      {(v) => (
        <span class={`badge badge-${v()}`} data-convergence={v()}>
          {LABEL[v()] ?? v()}
        </span>
      )}
    </Show>
  );
}

const STATUS_TONE: Record<string, string> = {
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
export function StatusBadge(props: { status: string; label?: string }) {
  return (
    <span class={`badge badge-tone-${STATUS_TONE[props.status] ?? 'neutral'}`} data-status={props.status}>
      {props.label ?? props.status.charAt(0).toUpperCase() + props.status.slice(1)}
    </span>
  );
}
