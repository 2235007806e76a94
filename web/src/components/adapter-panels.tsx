import { For, Show } from 'solid-js';
import type { FitVerdict } from '../../../server/adapters/types.ts';
import type { ModelDetail } from '../lib/trpc.ts';
import { CopyButton } from './copy-button.tsx';
import { TableWrap } from './table-wrap.tsx';

// What the service found out about an adapter (does it fit its base, where does it run, how to run it), on the
// members' model page and the public share page alike.

type Compatibility = NonNullable<ModelDetail['compatibility']>;

/** Mismatched tensors listed before "and N more": enough to see the pattern, short enough for a phone. */
const SHOWN_MISMATCHES = 10;

const VERDICT: Record<FitVerdict, { label: string; tone: 'good' | 'bad' | 'neutral' }> = {
  fits: { label: 'Fits its base', tone: 'good' },
  mismatch: { label: "Doesn't fit its base", tone: 'bad' },
  unknown_base: { label: 'Unknown base', tone: 'neutral' },
  unchecked: { label: 'Not checked', tone: 'neutral' },
};

/** The fit verdict as a pill; the words carry the meaning, the colour only repeats it. */
function FitBadge(props: { verdict: FitVerdict }) {
  return (
    <span class={`badge badge-tone-${VERDICT[props.verdict].tone}`} data-testid="fit-verdict" data-verdict={props.verdict}>
      {VERDICT[props.verdict].label}
    </span>
  );
}

/**
 * A source that is an address becomes a link; anything else ('config.json in the output') stays text. `short`
 * names the link by its site (the full address is its target and title), for a line that is about something else.
 */
function SourceRef(props: { source: string; short?: boolean }) {
  const url = () => (/^https?:\/\//i.test(props.source) ? props.source : null);
  const text = (u: string) => {
    if (!props.short) return u;
    try {
      return new URL(u).hostname;
    } catch {
      return u;
    }
  };
  return (
    <Show when={url()} fallback={<span>{props.source}</span>}>
      {(u) => (
        <a class="break" href={u()} title={u()} rel="noopener noreferrer" target="_blank">
          {text(u())}
        </a>
      )}
    </Show>
  );
}

/**
 * "Runs on": whether the adapter's tensors fit its base model (and where the base's facts come from), the
 * tensors that do not, and which runtimes accept the adapter and why not. A model ingested before fit checks
 * says so instead.
 */
export function CompatibilityPanel(props: { compatibility: ModelDetail['compatibility'] }) {
  return (
    <section class="panel adapter-panel" aria-labelledby="h-runs-on" data-testid="compatibility-panel">
      <h2 id="h-runs-on">Runs on</h2>
      <Show when={props.compatibility} fallback={<p class="muted">Not checked (ingested before fit checks).</p>}>
        {(c) => <Compatibility fit={c()} />}
      </Show>
    </section>
  );
}

function Compatibility(props: { fit: Compatibility }) {
  const c = () => props.fit;
  const more = () => c().mismatchCount - Math.min(c().mismatched.length, SHOWN_MISMATCHES);
  return (
    <>
      <div class="fit-head">
        <FitBadge verdict={c().verdict} />
        <span>
          <Show when={c().base.name} fallback="The adapter does not name its base model.">
            {(name) => (
              <>
                Base model <code class="break">{name()}</code>
              </>
            )}
          </Show>
        </span>
      </div>
      <Show when={c().base.facts}>
        {(f) => (
          <p class="muted small fit-facts">
            Checked {c().checked.toLocaleString('en-US')} LoRA tensors against <code class="break">{f().name}</code> ({f().modelType}, hidden{' '}
            {f().hiddenSize}, {f().layers} layers, {f().attentionHeads} heads / {f().kvHeads} KV). Facts from <SourceRef source={f().source} />.
          </p>
        )}
      </Show>
      <Show when={c().verdict === 'unknown_base'}>
        <p class="muted small">
          This base is not in our table and the output has no config.json, so the tensor shapes could not be checked. The adapter may still run.
        </p>
      </Show>
      <Show when={c().verdict === 'unchecked'}>
        <p class="muted small">
          No LoRA tensor could be read (the output has no adapter_model.safetensors; a pickled .bin is never opened), so nothing was compared.
        </p>
      </Show>
      <Show when={c().mismatched.length > 0}>
        <h3 class="subhead">
          {c().mismatchCount.toLocaleString('en-US')} tensor{c().mismatchCount === 1 ? '' : 's'} do not fit
        </h3>
        <TableWrap>
          <table class="table mismatches" data-testid="mismatch-table">
            <caption class="sr-only">Tensors whose shape does not fit the base model</caption>
            <thead>
              <tr>
                <th scope="col">Tensor</th>
                <th scope="col">Expected</th>
                <th scope="col">Got</th>
              </tr>
            </thead>
            <tbody>
              <For each={c().mismatched.slice(0, SHOWN_MISMATCHES)}>
                {(m) => (
                  <tr data-testid="mismatch-row">
                    <td>
                      <code class="path">{m.tensor}</code>
                    </td>
                    <td>
                      <code>{m.expected}</code>
                    </td>
                    <td>
                      <code>{m.got}</code>
                    </td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </TableWrap>
        <Show when={more() > 0}>
          <p class="muted small" data-testid="mismatch-more">
            and {more().toLocaleString('en-US')} more.
          </p>
        </Show>
      </Show>
      <h3 class="subhead">Runtimes</h3>
      <ul class="runtime-list" data-testid="runtimes">
        <For each={c().runtimes}>
          {(r) => (
            <li class="runtime" data-testid="runtime" data-runtime={r.name} data-ok={String(r.ok)}>
              <span class={`runtime-mark ${r.ok ? 'is-ok' : 'is-no'}`} aria-hidden="true">
                {r.ok ? '✓' : '✗'}
              </span>
              <span class="runtime-name">
                {r.name}
                <span class="sr-only">{r.ok ? ': accepts it' : ': does not accept it'}</span>
              </span>
              <span class="runtime-reason muted">{r.reason}</span>
            </li>
          )}
        </For>
      </ul>
    </>
  );
}

/**
 * "Use it": the model card's usage snippets (PEFT, vLLM, llama.cpp, Ollama), each with a copy button and
 * whether our own tests run it or it only follows the runtime's documentation.
 */
export function UsagePanel(props: { usage: ModelDetail['usage'] }) {
  return (
    <section class="panel" aria-labelledby="h-usage" data-testid="usage-panel">
      <h2 id="h-usage">Use it</h2>
      <p class="muted">The same instructions are in the model's README.md, which every download includes.</p>
      <For each={props.usage}>
        {(s) => (
          <div class="snippet" data-testid="usage-snippet" data-runtime={s.runtime}>
            <div class="snippet-head">
              <span>{s.title}</span>
              <CopyButton text={s.code} label={`${s.title} snippet`} />
            </div>
            <p class="snippet-source">
              <Show
                when={s.verified}
                fallback={
                  <>
                    From <SourceRef source={s.source} short />, not verified here.
                  </>
                }
              >
                <span class="badge badge-tone-good">Verified by our tests</span> Follows <SourceRef source={s.source} short />.
              </Show>
            </p>
            <pre tabindex="0">
              <code>{s.code}</code>
            </pre>
          </div>
        )}
      </For>
    </section>
  );
}
