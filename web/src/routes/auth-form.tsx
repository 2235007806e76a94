import { A, useNavigate, useSearchParams } from '@solidjs/router';
import { useQueryClient } from '@tanstack/solid-query';
import { createSignal, For, Show } from 'solid-js';
import { safeNext } from '../lib/auth.ts';

export interface Field {
  name: string;
  label: string;
  type: string;
  autocomplete: string;
  minLength?: number;
  hint?: string;
}

/** The sign-in and sign-up card: labelled fields, inline error, then on to ?next= or /models. */
export function AuthForm(props: {
  title: string;
  submit: string;
  fields: Field[];
  action: (values: Record<string, string>) => Promise<unknown>;
  alternate: { text: string; link: string; href: string };
}) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [params] = useSearchParams<{ next?: string }>();
  const [error, setError] = createSignal<string | null>(null);
  const [busy, setBusy] = createSignal(false);

  const onSubmit = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const values = Object.fromEntries(props.fields.map((f) => [f.name, String(form.get(f.name) ?? '')]));
    setError(null);
    setBusy(true);
    try {
      await props.action(values);
      qc.clear();
      navigate(safeNext(params.next), { replace: true });
    } catch (err) {
      setError(err instanceof Error ? err.message : 'Something went wrong.');
    } finally {
      setBusy(false);
    }
  };

  const altHref = () => (params.next ? `${props.alternate.href}?next=${encodeURIComponent(params.next)}` : props.alternate.href);

  return (
    <main class="auth-page" id="main">
      <div class="auth-card panel">
        <div class="brand auth-brand">
          <span class="brand-mark" aria-hidden="true">
            L
          </span>
          <span class="brand-text">LoRA Models</span>
        </div>
        <h1>{props.title}</h1>
        <form onSubmit={onSubmit} novalidate={false} aria-describedby={error() ? 'auth-error' : undefined}>
          <For each={props.fields}>
            {(f) => (
              <div class="field">
                <label for={`f-${f.name}`}>{f.label}</label>
                <input
                  id={`f-${f.name}`}
                  name={f.name}
                  type={f.type}
                  autocomplete={f.autocomplete}
                  required
                  minLength={f.minLength}
                  aria-invalid={error() ? 'true' : undefined}
                  aria-describedby={f.hint ? `f-${f.name}-hint` : undefined}
                />
                <Show when={f.hint}>
                  <p id={`f-${f.name}-hint`} class="hint">
                    {f.hint}
                  </p>
                </Show>
              </div>
            )}
          </For>
          <Show when={error()}>
            <p id="auth-error" class="form-error" role="alert">
              {error()}
            </p>
          </Show>
          <button type="submit" class="btn btn-primary btn-block" disabled={busy()}>
            {busy() ? 'Please wait…' : props.submit}
          </button>
        </form>
        <p class="auth-alt muted">
          {props.alternate.text} <A href={altHref()}>{props.alternate.link}</A>
        </p>
      </div>
    </main>
  );
}
