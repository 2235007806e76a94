/**
 * models.update: a model's name, description and tags, edited in place (members and up). The catalogue
 * searches the description with the name and filters by tags (server/models/queries.ts `filters`).
 */
import type { Deps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { modelAccess } from '../models/queries.ts';
import { type Actor, judge, rls } from '../workspaces/roles.ts';
import { type ModelEdit, updateModel as update } from './edit-queries.ts';
import { refreshCardAfter } from '../adapters/card-store.ts';

/** Returns the model's edited fields as stored (tags lower-cased, without duplicates: see schemas.ts). */
export async function updateModel(deps: Deps, actor: Actor, input: ModelEdit & { modelId: string }) {
  const { modelId, ...edit } = input;
  const row = await deps.database.asUser(rls(actor), async (tx) => {
    // A model in the trash is not there (NOT_FOUND): restore it first.
    judge(actor, (await modelAccess(tx, actor, modelId))?.role ?? null, 'write', 'Model');
    const row = await update(tx, modelId, edit);
    if (!row) throw ERRORS.notFound('Model');
    return row;
  });
  // The model card shows name, description and tags: rendered again once the edit is committed.
  await refreshCardAfter(deps, modelId);
  return row;
}
