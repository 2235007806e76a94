import { For, Show } from 'solid-js';

/** 1–5 filled stars (yellow) out of five (grey); "Not rated" when the run has no score. */
export function Stars(props: { score: number | null | undefined; size?: number }) {
  const size = () => props.size ?? 16;
  return (
    <Show when={props.score} fallback={<span class="muted not-rated">Not rated</span>}>
      {(score) => (
        <span class="stars" role="img" aria-label={`${score()} out of 5 stars`}>
          <For each={[1, 2, 3, 4, 5]}>
            {(i) => (
              <svg width={size()} height={size()} viewBox="0 0 20 20" aria-hidden="true" class={i <= score() ? 'star star-on' : 'star star-off'}>
                <path d="M10 1.5l2.6 5.3 5.9.9-4.2 4.1 1 5.8L10 14.9l-5.3 2.7 1-5.8L1.5 7.7l5.9-.9z" />
              </svg>
            )}
          </For>
        </span>
      )}
    </Show>
  );
}
