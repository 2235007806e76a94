import { For, Show } from 'solid-js';

/**
 * A model's tags as chips. With `onPick` each chip is a button (the catalogue filters by it); without, plain
 * text. Buttons, not links: a card's one link is its title (its hit area covers the card).
 */
export function TagChips(props: { tags: readonly string[]; onPick?: (tag: string) => void; label?: string }) {
  return (
    <Show when={props.tags.length > 0}>
      <ul class="tag-list" aria-label={props.label ?? 'Tags'}>
        <For each={props.tags}>
          {(tag) => (
            <li>
              <Show when={props.onPick} fallback={<span class="tag">{tag}</span>}>
                {(pick) => (
                  <button type="button" class="tag tag-button" onClick={() => pick()(tag)} aria-label={`Filter by tag ${tag}`} data-tag={tag}>
                    {tag}
                  </button>
                )}
              </Show>
            </li>
          )}
        </For>
      </ul>
    </Show>
  );
}
