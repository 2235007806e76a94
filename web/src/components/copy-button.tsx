import { createSignal, onCleanup } from 'solid-js';

/** Copies `text` to the clipboard and says so for two seconds (announced to screen readers). */
export function CopyButton(props: { text: string; label?: string; class?: string }) {
  const [state, setState] = createSignal<'idle' | 'copied' | 'failed'>('idle');
  let timer: ReturnType<typeof setTimeout> | undefined;
  onCleanup(() => clearTimeout(timer));
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.text);
      setState('copied');
    } catch {
      setState('failed');
    }
    clearTimeout(timer);
    timer = setTimeout(() => setState('idle'), 2000);
  };
  return (
    <button
      type="button"
      class={`btn btn-small btn-ghost ${props.class ?? ''}`}
      onClick={copy}
      aria-label={props.label ? `Copy ${props.label}` : 'Copy'}
    >
      <span aria-live="polite">{state() === 'copied' ? 'Copied' : state() === 'failed' ? 'Copy failed' : 'Copy'}</span>
    </button>
  );
}
