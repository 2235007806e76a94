import { generateToken, hashToken } from '../auth/tokens.ts';
import type { Deps } from '../deps.ts';
import { DAY_MS, type JobConfig } from '../vocabulary.ts';
import { ERRORS } from '../errors.ts';
import { asDelivered } from '../registry/checkpoints.ts';
import * as models from '../models/queries.ts';
import { countDownload, modelCard, signDownload } from '../models/service.ts';
import { userMayReadObject } from '../workspaces/queries.ts';
import { type Actor, judge, rls } from '../workspaces/roles.ts';
import * as q from './queries.ts';

const SHARE_TOKEN_PREFIX = 'lsh_';

/**
 * The hyperparameters a public page shows: the named ones and the usual LoRA knobs. A trainer may send
 * anything else in its config (paths, host names, internal ids), which stays inside the workspace.
 */
const PUBLIC_HYPERPARAMETERS = new Set([
  'baseModel',
  'loraRank',
  'loraAlpha',
  'loraDropout',
  'targetModules',
  'learningRate',
  'epochs',
  'batchSize',
  'gradientAccumulationSteps',
  'maxSeqLength',
  'warmupSteps',
  'warmupRatio',
  'weightDecay',
  'lrScheduler',
  'optimizer',
  'precision',
  'seed',
]);

export function publicHyperparameters(config: JobConfig): JobConfig {
  const shown: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    const plain = ['string', 'number', 'boolean'].includes(typeof value) || (Array.isArray(value) && value.every((v) => typeof v === 'string'));
    if (PUBLIC_HYPERPARAMETERS.has(key) && plain) shown[key] = value;
  }
  // The named ones (required, scalars, validated at jobs.create) are always kept.
  return shown as JobConfig;
}

/**
 * A public, read-only link to one model (members and up): `/s/<token>`, valid `expiresInDays` (at most
 * 90). The token (256 random bits) is shown once and stored hashed; a new link replaces the model's
 * earlier one, so a model has at most one live link and unsharing is one click.
 */
export async function shareModel(deps: Deps, actor: Actor, input: { modelId: string; expiresInDays: number }) {
  const token = generateToken(SHARE_TOKEN_PREFIX);
  const expiresAt = new Date(deps.now() + input.expiresInDays * DAY_MS);
  const id = await deps.database.asUser(rls(actor), async (tx) => {
    const model = await models.modelAccess(tx, actor, input.modelId);
    judge(actor, model?.role ?? null, 'write', 'Model');
    await q.revokeShares(tx, input.modelId);
    return q.insertShare(tx, {
      artifactId: input.modelId,
      workspaceId: model!.workspaceId,
      tokenHash: hashToken(token),
      createdBy: actor.userId,
      expiresAt,
    });
  });
  return { id, token, url: `${deps.env.publicUrl}/s/${token}`, expiresAt: expiresAt.toISOString() };
}

/** Revokes the model's share link at once: its page and every link it signed answer no more. */
export async function unshareModel(deps: Deps, actor: Actor, modelId: string) {
  const revoked = await deps.database.asUser(rls(actor), async (tx) => {
    const model = await models.modelAccess(tx, actor, modelId);
    judge(actor, model?.role ?? null, 'write', 'Model');
    return q.revokeShares(tx, modelId);
  });
  return { revoked };
}

async function openLive(deps: Deps, token: string) {
  const share = token.startsWith(SHARE_TOKEN_PREFIX)
    ? await q.liveShare(deps.database.db, { tokenHash: hashToken(token) }, new Date(deps.now()))
    : null;
  // Unknown, revoked, expired, or its model deleted (the row went with it): all the same to a visitor.
  if (!share) throw ERRORS.notFound('Share link');
  return share;
}

/** The public page of a share link: the model card, quality, loss curve and files; nothing else of the workspace. */
export async function getShared(deps: Deps, token: string) {
  const share = await openLive(deps, token);
  const { db } = deps.database;
  const [model, files] = await Promise.all([q.sharedModel(db, share.artifactId), q.sharedFiles(db, share.artifactId)]);
  if (!model) throw ERRORS.notFound('Share link');
  const card = modelCard(model, asDelivered(files, model.mainCheckpoint));
  return {
    expiresAt: share.expiresAt.toISOString(),
    model: {
      id: model.id,
      name: model.name,
      createdAt: model.createdAt.toISOString(),
      qualityScore: model.qualityScore,
      convergenceQuality: model.convergenceQuality,
      totalBytes: Number(model.totalBytes),
      ...card,
      configuration: { ...card.configuration, hyperparameters: publicHyperparameters(model.hyperparameters) },
    },
  };
}

/**
 * Signed links through a share link, as models.download gives members, audited with the share's id. The
 * links are signed for the share (`s:<id>`): revoking it stops them too where the storage driver can ask.
 */
export async function downloadShared(
  deps: Deps,
  input: { token: string; fileIds?: string[] | undefined; bundleOnly?: boolean | undefined },
  meta: { ip: string | null; userAgent: string | null },
) {
  if (input.bundleOnly && input.fileIds) throw ERRORS.invalidField('bundleOnly', 'bundleOnly is the zip of every file: leave fileIds out.');
  const share = await openLive(deps, input.token);
  const handedOut = await deps.database.db.transaction(async (tx) => {
    const [model, files] = await Promise.all([q.sharedModel(tx, share.artifactId), q.sharedFiles(tx, share.artifactId)]);
    if (!model) throw ERRORS.notFound('Share link');
    const signed = await signDownload(
      deps,
      { id: model.id, name: model.name },
      asDelivered(files, model.mainCheckpoint),
      input.fileIds,
      `s:${share.id}`,
      { bundleOnly: input.bundleOnly },
    );
    // The zip's link alone records nothing: fetching the zip records it.
    if (!input.bundleOnly) {
      await models.recordDownload(tx, {
        userId: null,
        shareId: share.id,
        artifactId: model.id,
        fileIds: input.fileIds ?? null,
        kind: 'files',
        ...meta,
      });
    }
    return signed;
  });
  return countDownload(deps, 'share', handedOut, { recorded: !input.bundleOnly });
}

/** What a bundle link signed for a share serves, while the share is live; a GET is recorded with the share id. */
export async function openShareBundle(
  deps: Deps,
  shareId: string,
  artifactId: string,
  record: { ip: string | null; userAgent: string | null } | null,
) {
  const share = await q.liveShare(deps.database.db, { id: shareId }, new Date(deps.now()));
  if (!share || share.artifactId !== artifactId) throw ERRORS.notFound('Model');
  const bundle = await deps.database.db.transaction(async (tx) => {
    const [model, files] = await Promise.all([q.sharedModel(tx, artifactId), q.sharedFiles(tx, artifactId)]);
    if (!model) throw ERRORS.notFound('Model');
    if (record) await models.recordDownload(tx, { userId: null, shareId, artifactId, fileIds: null, kind: 'bundle', ...record });
    return { name: model.name, createdAt: model.createdAt, files: asDelivered(files, model.mainCheckpoint) };
  });
  if (record) deps.metrics.downloads.inc({ kind: 'bundle', via: 'share' });
  return bundle;
}

/**
 * Whether whom a file link was signed for may still read the object: a member (`u:`) while they are in
 * the model's workspace, a share (`s:`) while it is live. Asked by the fs route on every download.
 */
export async function mayStillRead(deps: Deps, key: string, grant: string): Promise<boolean> {
  const { db } = deps.database;
  const id = grant.slice(2);
  if (grant.startsWith('u:')) return userMayReadObject(db, id, key);
  if (grant.startsWith('s:')) {
    if (!/^[0-9a-f-]{36}$/.test(id)) return false;
    const share = await q.liveShare(db, { id }, new Date(deps.now()));
    return share !== null && (await q.shareHoldsObject(db, share.artifactId, key));
  }
  return false;
}
