/**
 * models.compare: two to four models side by side (quality, training summary, adapter, loss curves) and
 * the differences of their configurations, shaped as models.get shapes each model's card.
 */
import type { AdapterInfo } from '../../db/schema/index.ts';
import type { Deps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { downsampleLossCurve } from '../models/lttb.ts';
import { modelCard } from '../models/service.ts';
import type { LossPoint } from '../vocabulary.ts';
import { type Actor, judge, rls } from '../workspaces/roles.ts';
import { compareModels } from './compare-queries.ts';
import { formatRef } from './refs.ts';

/** The most points a loss-curve series carries (what the ingest stores: LTTB, server/models/lttb.ts). */
const MAX_CURVE_POINTS = 500;

/** One compared key: its value in each model (in the order asked; null when absent) and whether they differ. */
interface DiffRow {
  key: string;
  values: unknown[];
  differs: boolean;
}

/** Every key any model has (`keys`), and the rows shown: those that differ, or all of them on request. */
interface Diff {
  keys: string[];
  rows: DiffRow[];
}

/** JSON with object keys sorted at every depth: equal values (however their keys were ordered) give one text. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Rows for `keys` from each model's values (`get`), aligned; `all` keeps the rows whose values agree. */
function diff(keys: string[], get: (key: string) => unknown[], all: boolean): Diff {
  const rows = keys.map((key) => {
    const values = get(key).map((v) => (v === undefined ? null : v));
    const first = canonical(values[0]);
    return { key, values, differs: values.some((v) => canonical(v) !== first) };
  });
  return { keys, rows: all ? rows : rows.filter((r) => r.differs) };
}

const ADAPTER_KEYS = ['baseModel', 'rank', 'alpha', 'targetModules', 'dtype'] as const satisfies readonly (keyof AdapterInfo)[];

/** An adapter field as compared: target modules as a set (their order in a config means nothing). */
function adapterValue(adapter: AdapterInfo | null, key: (typeof ADAPTER_KEYS)[number]): unknown {
  if (!adapter) return null;
  return key === 'targetModules' ? [...(adapter.targetModules ?? [])].sort() : adapter[key];
}

/**
 * The stored curve is downsampled at ingest to at most 500 points a series; a model stored otherwise (by
 * hand, or before that rule) is downsampled here, so the compare page's one chart never gets more.
 */
function boundedCurve(curve: LossPoint[]): LossPoint[] {
  let training = 0;
  let validation = 0;
  for (const p of curve) {
    if (p.trainingLoss !== null) training++;
    if (p.validationLoss !== null) validation++;
  }
  return training > MAX_CURVE_POINTS || validation > MAX_CURVE_POINTS ? downsampleLossCurve(curve, MAX_CURVE_POINTS) : curve;
}

/**
 * Two to four live models the caller can read, in the order asked, each with its card's quality, training
 * summary, adapter and loss curve; `hyperparameters` holds the configuration keys whose values differ
 * (every key with `allHyperparameters`), GPU type and count as `gpu.type` / `gpu.count`; `adapterDiff`
 * the same for the adapter's shape. A model that is not there, not the caller's to read or in the trash
 * is NOT_FOUND, and nothing is returned.
 */
export async function compare(deps: Deps, actor: Actor, input: { modelIds: string[]; allHyperparameters: boolean }) {
  const rows = await deps.database.asUser(rls(actor), (tx) => compareModels(tx, actor, input.modelIds));
  const byId = new Map(rows.map((r) => [r.id, r]));
  const ordered = input.modelIds.map((id) => {
    const row = byId.get(id);
    if (!row) throw ERRORS.notFound('Model');
    judge(actor, row.role, 'read', 'Model');
    return row;
  });

  const models = ordered.map((row) => {
    const card = modelCard(row, []);
    return {
      id: row.id,
      name: row.name,
      ref: formatRef(row.family, row.version),
      family: row.family,
      version: row.version,
      createdAt: row.createdAt.toISOString(),
      workspaceId: row.workspaceId,
      quality: card.quality,
      trainingSummary: card.trainingSummary,
      adapter: card.adapter,
      lossCurve: boundedCurve(card.lossCurve),
    };
  });

  const configs = ordered.map((r) => r.hyperparameters as Record<string, unknown>);
  const configKeys = [...new Set(configs.flatMap((c) => Object.keys(c)))].sort();
  const all = input.allHyperparameters;
  const config = diff(configKeys, (key) => configs.map((c) => (Object.hasOwn(c, key) ? c[key] : null)), all);
  const gpu = diff(['gpu.type', 'gpu.count'], (key) => ordered.map((r) => (key === 'gpu.type' ? r.gpu.type : r.gpu.count)), all);
  return {
    models,
    hyperparameters: { keys: [...config.keys, ...gpu.keys], rows: [...config.rows, ...gpu.rows] },
    adapterDiff: diff([...ADAPTER_KEYS], (key) => ordered.map((r) => adapterValue(r.adapter, key as (typeof ADAPTER_KEYS)[number])), all),
  };
}
