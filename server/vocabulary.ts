/**
 * The service's words, in one place: server, web and tests import them from here. Nothing is spelled out
 * by hand: each tuple is read from the definition that constrains it (a drizzle enum, a typed text column,
 * a zod schema), so adding a kind or a status there reaches every `Record<FileKind, …>` label map, which
 * then fails to compile until it has a label. `web/` imports only the types (`import type`).
 */
import type { z } from 'zod';
import { artifactFiles, ingestStatus, jobStatus, modelArtifacts } from '../db/schema/index.ts';
import type { gpuConfig, jobConfig } from './jobs/schemas.ts';

/** Convergence labels of a scored run, best first (the `model_artifacts.convergence` column). */
export const CONVERGENCE_LABELS = modelArtifacts.convergence.enumValues;
export type ConvergenceLabel = (typeof CONVERGENCE_LABELS)[number];

/** What a stored file is, as the ingest classifies it by path (the `artifact_files.kind` column). */
const FILE_KINDS = artifactFiles.kind.enumValues;
export type FileKind = (typeof FILE_KINDS)[number];

/** A training job's life (the `job_status` enum). */
const JOB_STATUSES = jobStatus.enumValues;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Where the delivery of a finished job's files stands (the `ingest_status` enum). */
const INGEST_STATUSES = ingestStatus.enumValues;
export type IngestStatus = (typeof INGEST_STATUSES)[number];

/** One point of a loss curve: a step and its losses, null where that series has none (`model_artifacts.loss_curve`). */
export type LossPoint = (typeof modelArtifacts.$inferSelect)['lossCurve'][number];

/** The GPU a job asks for, as `jobs.create` checks it and a model keeps it. */
export type GpuConfig = z.infer<typeof gpuConfig>;
/** A job's hyperparameters: the named ones checked, anything else a trainer sends kept as given (a model keeps them). */
export type JobConfig = z.infer<typeof jobConfig>;

/**
 * The longest a download link may live: 7 days, the limit of an S3 (SigV4) presigned URL, applied to the
 * fs driver's own links and to SIGNED_URL_TTL_SECONDS alike.
 */
export const MAX_LINK_LIFETIME_SECONDS = 7 * 24 * 60 * 60;

/** A day in milliseconds (retention, share-link lifetimes). */
export const DAY_MS = 24 * 3600 * 1000;
