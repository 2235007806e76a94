/**
 * Versions and aliases (issue 11, item 3): a family's versions side by side, aliases moved atomically with
 * their history, and the one reference grammar (refs.ts) resolved to a model for models.get, models.resolve
 * and models.download.
 */
import type { Tx } from '../../db/client.ts';
import type { Deps } from '../deps.ts';
import { AppError, ERRORS } from '../errors.ts';
import { memberRole } from '../workspaces/queries.ts';
import { type Actor, judge, rls, targetWorkspace } from '../workspaces/roles.ts';
import { formatRef, type ModelRef } from './refs.ts';
import * as q from './versions-queries.ts';

/**
 * Which model a call names: its id, or a reference (`ModelRef`, parsed by the input schema) read in
 * `workspaceId` (default: the caller's personal workspace, or a token's own). The schemas let exactly one through.
 */
export interface ModelTarget {
  modelId?: string | undefined;
  ref?: ModelRef | undefined;
  workspaceId?: string | undefined;
}

function person(id: string | null, name: string | null): { id: string; name: string } | null {
  return id === null || name === null ? null : { id, name };
}

/** The family's live versions, newest first, with their aliases and quality side by side. */
export async function listVersions(deps: Deps, actor: Actor, input: { family: string; workspaceId?: string | undefined }) {
  const workspaceId = targetWorkspace(actor, input.workspaceId);
  // Role, family, versions and aliases leave in one write; a stranger's call throws before anything is returned.
  const [role, exists, rows, aliases] = await deps.database.asUser(rls(actor), (tx) =>
    Promise.all([
      memberRole(tx, actor.userId, workspaceId),
      q.familyExists(tx, workspaceId, input.family),
      q.familyVersions(tx, workspaceId, input.family),
      q.familyAliases(tx, workspaceId, input.family),
    ]),
  );
  judge(actor, role, 'read', 'Family');
  if (!exists) throw ERRORS.notFound('Family');
  const byModel = new Map<string, string[]>();
  for (const a of aliases) byModel.set(a.artifactId, [...(byModel.get(a.artifactId) ?? []), a.alias]);
  return rows.map((r) => ({
    id: r.id,
    version: r.version,
    ref: formatRef(input.family, r.version),
    name: r.name,
    createdAt: r.createdAt.toISOString(),
    aliases: byModel.get(r.id) ?? [],
    qualityScore: r.qualityScore as 1 | 2 | 3 | 4 | 5 | null,
    convergenceQuality: r.convergenceQuality,
    finalValidationLoss: r.finalValidationLoss,
    perplexity: r.perplexity,
    totalBytes: Number(r.totalBytes),
    createdBy: person(r.createdById, r.createdByName),
  }));
}

/** The live model an alias call names, judged for `write`. */
async function aliasTarget(tx: Tx, actor: Actor, modelId: string) {
  const model = await q.aliasTarget(tx, actor, modelId);
  // A model in the trash takes no new alias (and loses none: restore brings its aliases back).
  if (!model || model.deletedAt) throw ERRORS.notFound('Model');
  judge(actor, model.role, 'write', 'Model');
  return model;
}

/**
 * Points `alias` of the model's family at the model, moving it from whichever version held it (a rollback
 * is moving it back). Concurrent moves end with exactly one holder and one unbroken history; setting it to
 * the model that holds it already is a no-op that records nothing.
 */
export async function setAlias(deps: Deps, actor: Actor, input: { modelId: string; alias: string }) {
  return deps.database.asUser(rls(actor), async (tx) => {
    const model = await aliasTarget(tx, actor, input.modelId);
    const { previousVersion } = await q.moveAlias(tx, { ...model, alias: input.alias, modelId: input.modelId, actorId: actor.userId });
    return { family: model.family, alias: input.alias, version: model.version, previousVersion };
  });
}

/** Removes `alias` from the model; NOT_FOUND when the model does not hold it. */
export async function removeAlias(deps: Deps, actor: Actor, input: { modelId: string; alias: string }) {
  return deps.database.asUser(rls(actor), async (tx) => {
    const model = await aliasTarget(tx, actor, input.modelId);
    const removed = await q.removeAlias(tx, { ...model, alias: input.alias, modelId: input.modelId, actorId: actor.userId });
    if (!removed) throw ERRORS.notFound(`Alias ${input.alias} on this model`);
    return { family: model.family, alias: input.alias, version: model.version };
  });
}

/**
 * The id of the model `target` names, in the caller's transaction. An id is returned as it is (the read
 * that follows judges it); a reference is looked up in its workspace, with the role read in the same
 * write: an unknown family, version or alias is NOT_FOUND, and so is a model in the trash.
 */
export async function modelIdFor(tx: Tx, actor: Actor, target: ModelTarget): Promise<string> {
  const ref: ModelRef | null = target.ref ?? (target.modelId ? { kind: 'id', modelId: target.modelId } : null);
  if (!ref) throw ERRORS.invalidField('ref', 'Name the model by its id or by a reference.');
  if (ref.kind === 'id') return ref.modelId;
  const workspaceId = targetWorkspace(actor, target.workspaceId);
  const lookup =
    ref.kind === 'latest'
      ? q.latestVersion(tx, workspaceId, ref.family)
      : ref.kind === 'version'
        ? q.modelOfVersion(tx, workspaceId, ref.family, ref.version)
        : q.modelOfAlias(tx, workspaceId, ref.family, ref.alias);
  const [role, exists, found] = await Promise.all([memberRole(tx, actor.userId, workspaceId), q.familyExists(tx, workspaceId, ref.family), lookup]);
  judge(actor, role, 'read', 'Family');
  if (!exists) throw ERRORS.notFound('Family');
  if (ref.kind === 'latest') {
    if (!found) throw new AppError('NOT_FOUND', `${ref.family} has no model outside the trash.`);
    return found.id;
  }
  const named = ref.kind === 'version' ? `${ref.family}@v${ref.version}` : `${ref.family}@${ref.alias}`;
  if (!found) throw ERRORS.notFound(ref.kind === 'version' ? `Version ${named}` : `Alias ${named}`);
  if (found.deletedAt) {
    throw new AppError(
      'NOT_FOUND',
      ref.kind === 'alias'
        ? `Alias ${named} points at v${found.version}, a model in the trash: restore it, or move the alias.`
        : `${named} is in the trash.`,
    );
  }
  return found.id;
}

/** What a model's page shows of aliases: those it holds, and the family's latest moves (newest first). */
export function aliasView(held: string[], history: q.AliasEventRow[]) {
  return {
    aliases: held,
    aliasHistory: history.map((e) => ({
      alias: e.alias,
      action: e.action,
      version: e.version,
      previousVersion: e.previousVersion,
      actor: person(e.actorId, e.actorName),
      at: new Date(e.at).toISOString(),
    })),
  };
}
