import { Show } from 'solid-js';
import { formatDate, formatDateTime, formatExact, relativeTime } from '../lib/format.ts';

/**
 * A date as people read it, in the browser's time zone, with the exact time (to the second, with the zone) on
 * hover: `<time datetime title>`. `show`: 'datetime' (default) "Jul 15, 2:34 PM"; 'date' "Jul 15, 2031";
 * 'relative' "5 min ago". A missing date is a dash.
 */
export function Time(props: { value: string | Date | null | undefined; show?: 'datetime' | 'date' | 'relative' }) {
  return (
    <Show when={props.value} fallback="—">
      {(v) => {
        const text = () => (props.show === 'date' ? formatDate(v()) : props.show === 'relative' ? relativeTime(v()) : formatDateTime(v()));
        const iso = () => new Date(v()).toISOString();
        return (
          <time datetime={iso()} title={formatExact(v())}>
            {text()}
          </time>
        );
      }}
    </Show>
  );
}
