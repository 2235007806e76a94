/**
 * What models.get, the public share page and the generated model card say about an adapter beyond its
 * stored facts: the fit check with the runtimes that accept it (computed at read time, so a new runtime
 * limit applies to old models too), the weights' health, why the quality score is what it is, and how to
 * run it. One function, so the page and the card cannot disagree.
 */
import type { StoredEvalSet } from '../outputs/types.ts';
import type { AdapterInfo } from '../../db/schema/index.ts';
import { publicHyperparameters } from '../shares/service.ts';
import { formatRef } from '../registry/refs.ts';
import type { FileKind, JobConfig } from '../vocabulary.ts';
import { type CardModel, usageSnippets } from './card.ts';
import { type QualityFacts, qualityExplanation } from './explain.ts';
import { runtimesFor } from './runtimes.ts';
import type { FitCheck, WeightHealth } from './types.ts';

/** The model as the card and the page describe it: its summary and card fields, and its files as delivered. */
export interface AdapterSubject
  extends Pick<
    CardModel,
    'name' | 'ref' | 'family' | 'version' | 'description' | 'tags' | 'datasetName' | 'trainingSummary' | 'adapter' | 'weights' | 'evaluations'
  > {
  quality: QualityFacts;
  hyperparameters: Record<string, unknown>;
  /** The stored fit check; the runtimes are judged from it when the model is described. */
  compatibility: FitCheck | null;
  /** The model's main checkpoint (promoted), whose folder holds the main adapter's export. */
  mainCheckpoint: string | null;
  files: readonly { path: string; sizeBytes: number; sha256: string; kind: FileKind }[];
}

type TrainingSummary = CardModel['trainingSummary'];

/** A model's training summary as every view shows it (hours, dollars), from the columns that store it. */
export function trainingSummaryOf(r: {
  epochsCompleted: number | null;
  totalSteps: number | null;
  durationSeconds: number | string | null;
  totalCost: number | string | null;
}): TrainingSummary {
  return {
    epochsCompleted: r.epochsCompleted,
    totalSteps: r.totalSteps,
    durationHours: r.durationSeconds === null ? null : Number(r.durationSeconds) / 3600,
    totalCost: r.totalCost === null ? null : Number(r.totalCost),
  };
}

/** The columns of a stored model a description reads: models/queries.ts `cardColumns` and the quality summary. */
interface SubjectRow {
  name: string;
  family: string;
  version: number;
  description: string;
  tags: string[];
  qualityScore: number | null;
  convergenceQuality: string | null;
  lossReductionPct: number | null;
  initialLoss: number | null;
  finalTrainingLoss: number | null;
  finalValidationLoss: number | null;
  overfitGap: number | null;
  epochsCompleted: number | null;
  totalSteps: number | null;
  durationSeconds: number | string | null;
  totalCost: number | string | null;
  hyperparameters: unknown;
  adapter: AdapterInfo | null;
  compatibility: FitCheck | null;
  weights: WeightHealth | null;
  mainCheckpoint: string | null;
  evaluations: StoredEvalSet[];
}

/** A stored model as the page and its card describe it; `files` as delivered (asDelivered). */
export function subjectOf(row: SubjectRow, files: AdapterSubject['files'], datasetName: string | null): AdapterSubject {
  return {
    name: row.name,
    ref: formatRef(row.family, row.version),
    family: row.family,
    version: row.version,
    description: row.description,
    tags: row.tags,
    datasetName,
    quality: {
      score: row.qualityScore,
      convergence: row.convergenceQuality,
      lossReductionPct: row.lossReductionPct,
      initialLoss: row.initialLoss,
      finalTrainingLoss: row.finalTrainingLoss,
      finalValidationLoss: row.finalValidationLoss,
      overfitGap: row.overfitGap,
    },
    trainingSummary: trainingSummaryOf(row),
    hyperparameters: row.hyperparameters as Record<string, unknown>,
    adapter: row.adapter,
    compatibility: row.compatibility,
    weights: row.weights,
    evaluations: row.evaluations,
    mainCheckpoint: row.mainCheckpoint,
    files,
  };
}

/** The GGUF export of the model's main adapter, if one is among its files: top level, or in the promoted checkpoint's folder. */
function mainExport(files: AdapterSubject['files'], mainCheckpoint: string | null): string | null {
  const found = files.filter(
    (f) => f.kind === 'export' && f.path.endsWith('.gguf') && (mainCheckpoint ? f.path.startsWith(`${mainCheckpoint}/`) : !f.path.includes('/')),
  );
  return found.length > 0 ? found[found.length - 1]!.path : null;
}

/** compatibility (with runtimes), weights, the quality explanation, usage snippets, and the card's model. */
export function adapterView(m: AdapterSubject) {
  const compatibility = m.compatibility
    ? {
        ...m.compatibility,
        runtimes: runtimesFor({
          fit: m.compatibility,
          maxRank: m.adapter?.maxRank ?? m.adapter?.rank ?? null,
          targetModules: m.adapter?.targetModules ?? [],
          format: m.adapter?.format,
        }),
      }
    : null;
  const explanation = qualityExplanation(m.quality, m.weights);
  const card: CardModel = {
    name: m.name,
    ref: m.ref,
    family: m.family,
    version: m.version,
    description: m.description,
    tags: m.tags,
    baseModel: m.adapter?.baseModel ?? m.compatibility?.base.name ?? null,
    adapter: m.adapter,
    taskType: m.adapter?.taskType ?? null,
    quality: { ...m.quality, explanation },
    trainingSummary: m.trainingSummary,
    // The card leaves the service (share links, a push to the Hub): only the named, public knobs, as the share page shows.
    hyperparameters: publicHyperparameters(m.hyperparameters as JobConfig),
    compatibility,
    weights: m.weights,
    files: m.files.filter((f) => f.kind !== 'model_card').map((f) => ({ path: f.path, sizeBytes: f.sizeBytes, sha256: f.sha256 })),
    ggufFile: mainExport(m.files, m.mainCheckpoint),
    datasetName: m.datasetName,
    evaluations: m.evaluations,
  };
  return { compatibility, weights: m.weights, explanation, usage: usageSnippets(card), card };
}
