import { useMutation, useQueryClient } from '@tanstack/solid-query';
import { createSignal, type JSX, Show } from 'solid-js';
import { api, errorMessage, fieldError } from '../lib/trpc.ts';

/** The fields models.update edits; each is the name of its input field, so the server's message lands next to it. */
type Field = 'name' | 'description' | 'tags';

/** Tags as typed: comma-separated; spaces inside a tag are left for the server to refuse, with its reason. */
function parseTags(text: string): string[] {
  return text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

/**
 * One field of a model edited in place (members and up): the value as shown, with an Edit button; in edit
 * mode Enter or leaving the field saves, Escape cancels, and the server's refusal shows under the field,
 * which stays open. A description takes several lines: Shift+Enter adds one.
 */
export function InlineEdit(props: {
  modelId: string;
  field: Field;
  label: string;
  /** The value as the input shows it (tags joined with ", "). */
  text: string;
  canEdit: boolean;
  hint?: string;
  /** The value as the page shows it. */
  children: JSX.Element;
}) {
  const qc = useQueryClient();
  const [editing, setEditing] = createSignal(false);
  // The value when editing began: a refetch meanwhile must not overwrite what is being typed.
  const [initial, setInitial] = createSignal('');
  let input: HTMLInputElement | HTMLTextAreaElement | undefined;
  // Escape and a save in flight both end with the input gone; its blur then must not save (again).
  let settled = false;
  const save = useMutation(() => ({
    mutationFn: (text: string) => {
      const value = props.field === 'tags' ? { tags: parseTags(text) } : props.field === 'name' ? { name: text.trim() } : { description: text };
      return api.models.update.mutate({ modelId: props.modelId, ...value });
    },
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: ['models'] });
      setEditing(false);
    },
    onError: () => {
      settled = false;
      queueMicrotask(() => input?.focus());
    },
  }));
  const id = () => `edit-${props.field}`;
  const error = () => (save.isError ? (fieldError(save.error, props.field) ?? errorMessage(save.error)) : null);

  const open = () => {
    save.reset();
    settled = false;
    setInitial(props.text);
    setEditing(true);
    queueMicrotask(() => input?.focus());
  };
  const commit = () => {
    if (settled || !input) return;
    const text = input.value;
    const unchanged = props.field === 'tags' ? parseTags(text).join(', ') === initial() : text === initial();
    settled = true;
    if (unchanged) setEditing(false);
    else save.mutate(text);
  };
  const cancel = () => {
    settled = true;
    save.reset();
    setEditing(false);
  };
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      cancel();
    } else if (e.key === 'Enter' && !(e.shiftKey && props.field === 'description')) {
      e.preventDefault();
      commit();
    }
  };
  const common = () => ({
    id: id(),
    name: props.field,
    value: initial(),
    disabled: save.isPending,
    'aria-invalid': error() ? ('true' as const) : undefined,
    'aria-describedby': `${id()}-hint${error() ? ` ${id()}-error` : ''}`,
    onKeyDown,
    onBlur: commit,
  });

  return (
    <Show
      when={editing()}
      fallback={
        <div class="inline-edit" data-field={props.field}>
          <div class="inline-edit-value">{props.children}</div>
          <Show when={props.canEdit}>
            <button type="button" class="btn btn-small btn-ghost" onClick={open} aria-label={`Edit ${props.label.toLowerCase()}`}>
              Edit
            </button>
          </Show>
        </div>
      }
    >
      <div class="field inline-edit-field">
        <label for={id()}>{props.label}</label>
        <Show
          when={props.field === 'description'}
          fallback={<input ref={(el) => (input = el)} {...common()} autocomplete="off" maxLength={props.field === 'name' ? 200 : undefined} />}
        >
          <textarea ref={(el) => (input = el)} {...common()} rows={3} maxLength={2000} />
        </Show>
        <p id={`${id()}-hint`} class="hint">
          {props.hint ? `${props.hint} ` : ''}
          {save.isPending
            ? 'Saving…'
            : props.field === 'description'
              ? 'Enter saves, Shift+Enter starts a new line, Escape cancels.'
              : 'Enter saves, Escape cancels.'}
        </p>
        <Show when={error()}>
          <p id={`${id()}-error`} class="field-error" role="alert">
            {error()}
          </p>
        </Show>
      </div>
    </Show>
  );
}
