import { A, useSearchParams } from '@solidjs/router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/solid-query';
import { createSignal, For, Show } from 'solid-js';
import { StatusBadge } from '../components/badges.tsx';
import { StartTraining } from '../components/start-training.tsx';
import { EmptyState, Loaded, TableSkeleton } from '../components/states.tsx';
import { isLive } from '../lib/events.ts';
import { formatCost } from '../lib/format.ts';
import { api, errorMessage } from '../lib/trpc.ts';
import { can, useWorkspace } from '../lib/workspace.ts';
import type { IngestStatus } from '../../../server/vocabulary.ts';
import { TableWrap } from '../components/table-wrap.tsx';
import { usePageTitle } from '../lib/title.ts';
import { Time } from '../components/time.tsx';

const INGEST_LABEL: Record<IngestStatus, string> = {
  none: 'Not started',
  pending: 'Queued',
  ingesting: 'Copying files',
  ready: 'Delivered',
  failed: 'Failed',
};

/** Training jobs and the delivery of their files; a failed delivery can be retried here. */
export default function Jobs() {
  usePageTitle(() => 'Training jobs');
  const qc = useQueryClient();
  const ws = useWorkspace();
  const [howTo, setHowTo] = createSignal(false);
  // isSuccess first: reading `data` while the list is pending would suspend the page (solid-query's data is a resource).
  const hasJobs = () => jobs.isSuccess && jobs.data.length > 0;
  const [params] = useSearchParams<{ job?: string }>();
  const jobs = useQuery(() => ({
    queryKey: ['jobs', ws.current().id],
    queryFn: () => api.jobs.list.query({ workspaceId: ws.current().id }),
    // While something is on its way, keep the table current: by the event stream (lib/events.ts), or polling while it is down.
    refetchInterval: isLive()
      ? false
      : (q) => (q.state.data?.some((j) => j.status === 'running' || j.ingestStatus === 'pending' || j.ingestStatus === 'ingesting') ? 3000 : false),
  }));
  const retry = useMutation(() => ({
    mutationFn: (jobId: string) => api.jobs.retryIngest.mutate({ jobId }),
    onSettled: () => qc.invalidateQueries({ queryKey: ['jobs'] }),
  }));

  return (
    <section aria-labelledby="jobs-title">
      <div class="page-head">
        <div>
          <h1 id="jobs-title">Training jobs</h1>
          <p class="muted">Runs reported by your GPU workers, and the delivery of their files into your catalogue.</p>
        </div>
        <Show when={can(ws.current().role, 'write') && hasJobs()}>
          <button type="button" class="btn btn-primary" aria-expanded={howTo()} aria-controls="start-training" onClick={() => setHowTo(!howTo())}>
            Start training
          </button>
        </Show>
      </div>
      {/* With jobs listed, the how-to opens on demand; with none, the empty state shows it. */}
      <Show when={howTo() && hasJobs()}>
        <div class="panel">
          <StartTraining />
        </div>
      </Show>
      <Show when={retry.isError}>
        <p class="notice notice-error" role="alert">
          Retry failed: {errorMessage(retry.error)}
        </p>
      </Show>
      <Loaded query={jobs} what="your jobs" skeleton={<TableSkeleton label="Loading jobs" columns={5} />}>
        {(rows) => (
          <Show
            when={rows().length > 0}
            fallback={
              <EmptyState title="No training jobs yet">
                <Show
                  when={can(ws.current().role, 'write')}
                  fallback={<p class="muted">Members of this workspace start training runs through the API; they will show here.</p>}
                >
                  <StartTraining />
                </Show>
              </EmptyState>
            }
          >
            <TableWrap class="panel flush">
              <table class="table">
                <thead>
                  <tr>
                    <th scope="col">Job</th>
                    <th scope="col">Status</th>
                    <th scope="col">Delivery</th>
                    <th scope="col">Created</th>
                    <th scope="col" class="num">
                      Cost
                    </th>
                    <th scope="col">Model</th>
                  </tr>
                </thead>
                <tbody>
                  <For each={rows()}>
                    {(j) => (
                      <tr data-testid="job-row" data-job-id={j.id} classList={{ highlight: params.job === j.id }}>
                        <th scope="row">{j.name}</th>
                        <td>
                          <StatusBadge status={j.status} />
                          <Show when={j.status === 'failed' && j.error}>
                            <p class="cell-error">{j.error}</p>
                          </Show>
                        </td>
                        <td>
                          <StatusBadge status={j.ingestStatus} label={INGEST_LABEL[j.ingestStatus]} />
                          <Show when={j.ingestStatus === 'failed'}>
                            <p class="cell-error">{j.ingestError ?? 'The files could not be copied.'}</p>
                            <Show when={can(ws.current().role, 'write')}>
                              <button
                                type="button"
                                class="btn btn-small btn-secondary"
                                disabled={retry.isPending && retry.variables === j.id}
                                onClick={() => retry.mutate(j.id)}
                                aria-label={`Retry delivery of ${j.name}`}
                              >
                                Retry
                              </button>
                            </Show>
                          </Show>
                        </td>
                        <td>
                          <Time value={j.createdAt} />
                        </td>
                        <td class="num">{j.costUsd === null ? '—' : formatCost(Number(j.costUsd))}</td>
                        <td>
                          <Show when={j.artifactId} fallback={<span class="muted">—</span>}>
                            {(id) => (
                              <A href={`/models/${id()}`} aria-label={`Open model ${j.name}`}>
                                Open model
                              </A>
                            )}
                          </Show>
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
