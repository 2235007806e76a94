import { useMutation } from '@tanstack/solid-query';
import { For, onMount } from 'solid-js';
import { api, fieldError, type Workspace } from '../lib/trpc.ts';
import { FieldError, FormError } from './states.tsx';

/** The header's workspace picker: a plain select (keyboard and phone friendly) and a button for a new one. */
export function WorkspaceSwitcher(props: {
  workspaces: Workspace[];
  current: Workspace | undefined;
  onSwitch: (id: string) => void;
  onNew: () => void;
}) {
  return (
    <div class="ws-switch">
      <label for="ws-select" class="sr-only">
        Workspace
      </label>
      <select id="ws-select" value={props.current?.id ?? ''} onChange={(e) => props.onSwitch(e.currentTarget.value)} disabled={!props.current}>
        <For each={props.workspaces}>
          {(w) => (
            <option value={w.id} selected={w.id === props.current?.id}>
              {w.name}
              {w.personal ? ' (personal)' : ''}
            </option>
          )}
        </For>
      </select>
      {/* Short visible text keeps the header on one line; the accessible name starts with it (label in name). */}
      <button type="button" class="btn btn-small btn-ghost" aria-label="New workspace" onClick={() => props.onNew()}>
        <span aria-hidden="true">+</span> New
      </button>
    </div>
  );
}

/** A modal form with one field, the name; the caller becomes the new workspace's owner. Mounted while open. */
export function NewWorkspaceDialog(props: { onClose: () => void; onCreated: (id: string) => Promise<void> }) {
  let dialog!: HTMLDialogElement;
  let form!: HTMLFormElement;
  const create = useMutation(() => ({ mutationFn: (name: string) => api.workspaces.create.mutate({ name }) }));
  const nameError = () => fieldError(create.error, 'name', 'Name');
  onMount(() => dialog.showModal());

  const onSubmit = async (e: SubmitEvent) => {
    e.preventDefault();
    const name = String(new FormData(form).get('name') ?? '').trim();
    if (!name) return;
    const res = await create.mutateAsync(name).catch(() => null);
    if (res) await props.onCreated(res.id);
  };

  return (
    <dialog ref={dialog} class="dialog" aria-labelledby="nw-title" onClose={() => props.onClose()}>
      <form ref={form} onSubmit={onSubmit}>
        <h2 id="nw-title">New workspace</h2>
        <p class="muted">A team workspace holds models, jobs, datasets and API tokens that its members share.</p>
        <div class="field">
          <label for="nw-name">Name</label>
          <input
            id="nw-name"
            name="name"
            required
            maxLength={100}
            autocomplete="off"
            aria-invalid={nameError() ? 'true' : undefined}
            aria-describedby={nameError() ? 'nw-name-error' : undefined}
          />
          <FieldError id="nw-name-error" message={nameError()} />
        </div>
        <FormError when={create.isError && !nameError()} error={create.error} />
        <div class="dialog-actions">
          <button type="button" class="btn btn-secondary" onClick={() => dialog.close()}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" disabled={create.isPending}>
            {create.isPending ? 'Creating…' : 'Create workspace'}
          </button>
        </div>
      </form>
    </dialog>
  );
}
