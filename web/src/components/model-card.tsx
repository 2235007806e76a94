import { A } from '@solidjs/router';
import { Show } from 'solid-js';
import { formatBytes, formatCost } from '../lib/format.ts';
import type { ModelSummary } from '../lib/trpc.ts';
import { ConvergenceBadge } from './badges.tsx';
import { Stars } from './stars.tsx';
import { TagChips } from './tags.tsx';
import { Time } from './time.tsx';

/** Marks the card whose name or dataset is cut by its ellipsis, so focus shows the tip with both in full (only then). */
function markCut(link: HTMLElement) {
  const card = link.closest('.model-card');
  const cut = [...(card?.querySelectorAll('.card-title, .card-meta dd') ?? [])].some((el) => el.scrollWidth > el.clientWidth);
  card?.toggleAttribute('data-cut', cut);
}

/** A catalogue card: a checkbox for the selection, the name (its link covers the card), reference, score, tags (filters) and facts. */
export function ModelCard(props: { model: ModelSummary; selected: boolean; onSelect: (checked: boolean) => void; onTag: (tag: string) => void }) {
  const m = () => props.model;
  return (
    <li class="card model-card" classList={{ 'is-selected': props.selected }} data-testid="model-card" data-model-id={m().id}>
      <div class="card-top">
        <input
          type="checkbox"
          class="card-check"
          checked={props.selected}
          onChange={(e) => props.onSelect(e.currentTarget.checked)}
          aria-label={`Select ${m().name}`}
        />
        <h2 class="card-title">
          <A href={`/models/${m().id}`} class="stretched" title={m().name} onFocus={(e) => markCut(e.currentTarget)}>
            {m().name}
          </A>
          {/* What the card cuts short, in full, while the link has keyboard focus (the title shows it on hover). */}
          <span class="name-tip" data-testid="name-tip" aria-hidden="true">
            <span class="name-tip-name">{m().name}</span>
            <span class="name-tip-dataset">Dataset: {m().dataset.name}</span>
          </span>
        </h2>
        <ConvergenceBadge value={m().convergenceQuality} />
      </div>
      <div class="card-line">
        <Stars score={m().qualityScore} />
        <code class="card-ref" data-testid="model-ref" title={m().ref}>
          {m().ref}
        </code>
      </div>
      <Show when={m().fit === 'mismatch' || m().untrained}>
        <ul class="badges card-flags" aria-label={`Warnings about ${m().name}`}>
          <Show when={m().fit === 'mismatch'}>
            <li
              class="badge badge-tone-bad"
              data-testid="flag-mismatch"
              title="Its tensors do not match its base model's shapes: it will not load there."
            >
              <span aria-hidden="true">⚠</span>Doesn't fit its base
            </li>
          </Show>
          <Show when={m().untrained}>
            <li class="badge badge-tone-bad" data-testid="flag-untrained" title="Every lora_B is zero: the adapter changes nothing.">
              <span aria-hidden="true">⚠</span>Untrained
            </li>
          </Show>
        </ul>
      </Show>
      <div class="card-tags">
        <TagChips tags={m().tags} onPick={props.onTag} label={`Tags of ${m().name}`} />
      </div>
      <dl class="card-meta">
        <div>
          <dt>Dataset</dt>
          <dd title={m().dataset.name}>{m().dataset.name}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            <Time value={m().createdAt} />
          </dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd>{formatCost(m().totalCost)}</dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd>{formatBytes(m().totalBytes)}</dd>
        </div>
      </dl>
    </li>
  );
}
