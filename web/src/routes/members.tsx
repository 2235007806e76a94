import { useNavigate } from '@solidjs/router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/solid-query';
import { createSignal, For, Show } from 'solid-js';
import { CopyButton } from '../components/copy-button.tsx';
import { FieldError, FormError, Loaded, TableSkeleton } from '../components/states.tsx';
import { getSession } from '../lib/auth.ts';
import { api, fieldError, type Role } from '../lib/trpc.ts';
import { can, outranks, ROLE_LABEL, useWorkspace } from '../lib/workspace.ts';
import { TableWrap } from '../components/table-wrap.tsx';
import { usePageTitle } from '../lib/title.ts';
import { Time } from '../components/time.tsx';

const ROLES = Object.keys(ROLE_LABEL) as Role[];

/** The roles `actor` may hand out: only an owner makes owners. */
const grantable = (actor: Role) => ROLES.filter((r) => r !== 'owner' || actor === 'owner');

/**
 * Members of the current workspace: everyone sees who is in it and may leave (not the personal one); admins
 * invite, change roles, remove and rename; the owner deletes it.
 */
export default function Members() {
  usePageTitle(() => 'Members');
  const ws = useWorkspace();
  const id = () => ws.current().id;
  const info = useQuery(() => ({ queryKey: ['workspaces', 'get', id()], queryFn: () => api.workspaces.get.query({ workspaceId: id() }) }));
  const role = () => info.data?.role ?? ws.current().role;
  const personal = () => info.data?.personal ?? ws.current().personal;
  const isAdmin = () => can(role(), 'admin');

  return (
    <section aria-labelledby="members-title">
      <div class="page-head">
        <div>
          <h1 id="members-title">Members</h1>
          <p class="muted">
            <strong>{info.data?.name ?? ws.current().name}</strong> · your role: {ROLE_LABEL[role()]}
          </p>
        </div>
      </div>

      <Show when={personal()}>
        <div class="notice panel personal-note" data-testid="personal-note">
          <p>This is your personal workspace: it cannot be shared. To work with others, create a team workspace and invite them there.</p>
          <button type="button" class="btn btn-primary" onClick={() => ws.openCreate()}>
            New workspace
          </button>
        </div>
      </Show>

      <Show when={isAdmin() && !personal()}>
        <InviteForm workspaceId={id()} role={role()} />
      </Show>

      <MemberList workspaceId={id()} role={role()} />

      <Show when={isAdmin() && !personal()}>
        <PendingInvites workspaceId={id()} />
      </Show>

      <Show when={isAdmin()}>
        <RenameForm workspaceId={id()} name={info.data?.name ?? ws.current().name} />
      </Show>

      <Show when={!personal()}>
        <LeavePanel workspaceId={id()} name={ws.current().name} canDelete={can(role(), 'owner')} />
      </Show>
    </section>
  );
}

function InviteForm(props: { workspaceId: string; role: Role }) {
  const qc = useQueryClient();
  const [sent, setSent] = createSignal<{ email: string; url: string; expiresAt: string } | null>(null);
  const invite = useMutation(() => ({
    mutationFn: (v: { email: string; role: Role }) => api.workspaces.members.invite.mutate({ workspaceId: props.workspaceId, ...v }),
    onSettled: () => qc.invalidateQueries({ queryKey: ['workspaces', 'invites', props.workspaceId] }),
  }));
  const emailError = () => fieldError(invite.error, 'email', 'Email');

  const onSubmit = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const email = String(data.get('email') ?? '').trim();
    const role = ROLES.find((r) => r === data.get('role')) ?? 'member';
    setSent(null);
    const res = await invite.mutateAsync({ email, role }).catch(() => null);
    if (res) {
      setSent({ email, url: res.url, expiresAt: res.expiresAt });
      form.reset();
    }
  };

  return (
    <form class="panel token-form" onSubmit={onSubmit} aria-labelledby="h-invite">
      <h2 id="h-invite">Invite someone</h2>
      <div class="row">
        <div class="field field-grow">
          <label for="inv-email">Email</label>
          <input
            id="inv-email"
            name="email"
            type="email"
            required
            autocomplete="off"
            aria-invalid={emailError() ? 'true' : undefined}
            aria-describedby={emailError() ? 'inv-email-error' : undefined}
          />
          <FieldError id="inv-email-error" message={emailError()} />
        </div>
        <div class="field">
          <label for="inv-role">Role</label>
          <select id="inv-role" name="role">
            <For each={grantable(props.role)}>
              {(r) => (
                <option value={r} selected={r === 'member'}>
                  {ROLE_LABEL[r]}
                </option>
              )}
            </For>
          </select>
        </div>
        <button type="submit" class="btn btn-primary" disabled={invite.isPending}>
          {invite.isPending ? 'Inviting…' : 'Invite'}
        </button>
      </div>
      <p class="hint">Viewers list and download; members also train, retry and share; admins also manage members and tokens.</p>
      <FormError when={invite.isError && !emailError()} error={invite.error} />
      <Show when={sent()}>
        {(s) => (
          <div class="notice notice-success token-once" role="status">
            <p>
              <strong>Invite for {s().email} created.</strong> Send them this link; only they can accept it, once, until{' '}
              <Time value={s().expiresAt} />.
            </p>
            <div class="token-value">
              <code data-testid="invite-url">{s().url}</code>
              <CopyButton text={s().url} label="invite link" />
            </div>
          </div>
        )}
      </Show>
    </form>
  );
}

function MemberList(props: { workspaceId: string; role: Role }) {
  const qc = useQueryClient();
  const session = useQuery(() => ({ queryKey: ['session'], queryFn: getSession, staleTime: 60_000 }));
  const members = useQuery(() => ({
    queryKey: ['workspaces', 'members', props.workspaceId],
    queryFn: () => api.workspaces.members.list.query({ workspaceId: props.workspaceId }),
  }));
  const refresh = () => qc.invalidateQueries({ queryKey: ['workspaces'] });
  const setRole = useMutation(() => ({
    mutationFn: (v: { userId: string; role: Role }) => api.workspaces.members.setRole.mutate({ workspaceId: props.workspaceId, ...v }),
    onSettled: refresh,
  }));
  const remove = useMutation(() => ({
    mutationFn: (userId: string) => api.workspaces.members.remove.mutate({ workspaceId: props.workspaceId, userId }),
    onSettled: refresh,
  }));
  const editable = (userId: string, role: Role) => userId !== session.data?.id && outranks(props.role, role);

  return (
    <section class="panel" aria-labelledby="h-members">
      <h2 id="h-members">People</h2>
      <FormError when={setRole.isError || remove.isError} error={setRole.error ?? remove.error} />
      <Loaded query={members} what="the members" skeleton={<TableSkeleton label="Loading the members" rows={3} />}>
        {(rows) => (
          <ul class="member-list" aria-label="Members">
            <For each={rows()}>
              {(u) => (
                <li class="member-item" data-testid="member-row" data-email={u.email}>
                  <div class="member-who">
                    <span class="member-name">
                      {u.name || u.email}
                      {u.userId === session.data?.id ? ' (you)' : ''}
                    </span>
                    <span class="muted small member-email">
                      {u.email} · added <Time value={u.addedAt} show="date" />
                    </span>
                  </div>
                  <Show when={editable(u.userId, u.role)} fallback={<span data-testid="member-role">{ROLE_LABEL[u.role]}</span>}>
                    <label class="sr-only" for={`role-${u.userId}`}>
                      Role of {u.email}
                    </label>
                    <select
                      id={`role-${u.userId}`}
                      value={u.role}
                      disabled={setRole.isPending}
                      onChange={(e) => {
                        const role = ROLES.find((r) => r === e.currentTarget.value);
                        if (role) setRole.mutate({ userId: u.userId, role });
                      }}
                    >
                      <For each={grantable(props.role)}>
                        {(r) => (
                          <option value={r} selected={r === u.role}>
                            {ROLE_LABEL[r]}
                          </option>
                        )}
                      </For>
                    </select>
                    <button
                      type="button"
                      class="btn btn-small btn-danger"
                      disabled={remove.isPending && remove.variables === u.userId}
                      onClick={() => remove.mutate(u.userId)}
                      aria-label={`Remove ${u.email}`}
                    >
                      Remove
                    </button>
                  </Show>
                </li>
              )}
            </For>
          </ul>
        )}
      </Loaded>
    </section>
  );
}

function PendingInvites(props: { workspaceId: string }) {
  const qc = useQueryClient();
  const invites = useQuery(() => ({
    queryKey: ['workspaces', 'invites', props.workspaceId],
    queryFn: () => api.workspaces.members.invites.query({ workspaceId: props.workspaceId }),
  }));
  const revoke = useMutation(() => ({
    mutationFn: (inviteId: string) => api.workspaces.members.revokeInvite.mutate({ workspaceId: props.workspaceId, inviteId }),
    onSettled: () => qc.invalidateQueries({ queryKey: ['workspaces', 'invites', props.workspaceId] }),
  }));

  return (
    <section class="panel" aria-labelledby="h-invites">
      <h2 id="h-invites">Pending invites</h2>
      <FormError when={revoke.isError} error={revoke.error} />
      <Loaded query={invites} what="the invites">
        {(rows) => (
          <Show when={rows().length > 0} fallback={<p class="muted">No pending invites.</p>}>
            <TableWrap>
              <table class="table">
                <thead>
                  <tr>
                    <th scope="col">Email</th>
                    <th scope="col">Role</th>
                    <th scope="col">Expires</th>
                    <th scope="col">Invited by</th>
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  <For each={rows()}>
                    {(i) => (
                      <tr data-testid="invite-row">
                        <th scope="row">{i.email}</th>
                        <td>{ROLE_LABEL[i.role]}</td>
                        <td>
                          <Time value={i.expiresAt} />
                        </td>
                        <td>{i.invitedBy?.name || i.invitedBy?.email || '—'}</td>
                        <td class="actions">
                          <button
                            type="button"
                            class="btn btn-small btn-danger"
                            disabled={revoke.isPending && revoke.variables === i.id}
                            onClick={() => revoke.mutate(i.id)}
                            aria-label={`Revoke the invite for ${i.email}`}
                          >
                            Revoke
                          </button>
                        </td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </TableWrap>
          </Show>
        )}
      </Loaded>
    </section>
  );
}

function RenameForm(props: { workspaceId: string; name: string }) {
  const qc = useQueryClient();
  const rename = useMutation(() => ({
    mutationFn: (name: string) => api.workspaces.rename.mutate({ workspaceId: props.workspaceId, name }),
    onSettled: () => qc.invalidateQueries({ queryKey: ['workspaces'] }),
  }));
  const nameError = () => fieldError(rename.error, 'name', 'Workspace name');
  const onSubmit = (e: SubmitEvent) => {
    e.preventDefault();
    const name = String(new FormData(e.currentTarget as HTMLFormElement).get('name') ?? '').trim();
    if (name && name !== props.name) rename.mutate(name);
  };

  return (
    <form class="panel token-form" onSubmit={onSubmit} aria-labelledby="h-settings">
      <h2 id="h-settings">Workspace settings</h2>
      <div class="row">
        <div class="field field-grow">
          <label for="ws-name">Workspace name</label>
          <input
            id="ws-name"
            name="name"
            required
            maxLength={100}
            value={props.name}
            autocomplete="off"
            aria-invalid={nameError() ? 'true' : undefined}
            aria-describedby={nameError() ? 'ws-name-error' : undefined}
          />
          <FieldError id="ws-name-error" message={nameError()} />
        </div>
        <button type="submit" class="btn btn-secondary" disabled={rename.isPending}>
          {rename.isPending ? 'Saving…' : 'Rename'}
        </button>
      </div>
      <FormError when={rename.isError && !nameError()} error={rename.error} />
      <Show when={rename.isSuccess}>
        <p class="hint" role="status">
          Renamed.
        </p>
      </Show>
    </form>
  );
}

/** Leaving (everyone) and deleting (the owner, confirmed by typing the name): both end on the personal workspace. */
function LeavePanel(props: { workspaceId: string; name: string; canDelete: boolean }) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [confirmLeave, setConfirmLeave] = createSignal(false);
  const [typed, setTyped] = createSignal('');
  const away = async () => {
    // The list first: the layout then opens the personal workspace, not the one just left.
    await qc.invalidateQueries({ queryKey: ['workspaces', 'list'] });
    navigate('/models', { replace: true });
  };
  const leave = useMutation(() => ({ mutationFn: () => api.workspaces.leave.mutate({ workspaceId: props.workspaceId }), onSuccess: away }));
  const remove = useMutation(() => ({ mutationFn: () => api.workspaces.delete.mutate({ workspaceId: props.workspaceId }), onSuccess: away }));

  return (
    <section class="panel danger-zone" aria-labelledby="h-leave">
      <h2 id="h-leave">Leave{props.canDelete ? ' or delete' : ''}</h2>
      <div class="danger-row">
        <p class="muted">You lose access to this workspace's models, jobs and tokens at once; your API tokens for it stop working.</p>
        <Show
          when={confirmLeave()}
          fallback={
            <button type="button" class="btn btn-danger" onClick={() => setConfirmLeave(true)}>
              Leave workspace
            </button>
          }
        >
          <div class="confirm-row">
            <button type="button" class="btn btn-danger" disabled={leave.isPending} onClick={() => leave.mutate()}>
              {leave.isPending ? 'Leaving…' : `Yes, leave ${props.name}`}
            </button>
            <button type="button" class="btn btn-secondary" onClick={() => setConfirmLeave(false)}>
              Cancel
            </button>
          </div>
        </Show>
      </div>
      <FormError when={leave.isError} error={leave.error} />
      <Show when={props.canDelete}>
        <form
          class="delete-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (typed() === props.name) remove.mutate();
          }}
        >
          <div class="field">
            <label for="ws-delete">
              Delete this workspace and everything in it. Type <strong>{props.name}</strong> to confirm.
            </label>
            <input id="ws-delete" autocomplete="off" value={typed()} onInput={(e) => setTyped(e.currentTarget.value)} />
          </div>
          <button type="submit" class="btn btn-danger" disabled={typed() !== props.name || remove.isPending}>
            {remove.isPending ? 'Deleting…' : 'Delete workspace'}
          </button>
          <FormError when={remove.isError} error={remove.error} />
        </form>
      </Show>
    </section>
  );
}
