import { sql } from 'drizzle-orm';
import { check, index, pgTable, text, unique, uuid } from 'drizzle-orm/pg-core';
import { artifactFiles } from './artifact-files.ts';
import { users } from './auth.ts';
import { createdAt, id, tstz } from './columns.ts';
import { modelArtifacts } from './model-artifacts.ts';
import { workspaces } from './workspaces.ts';

/**
 * A conversion of a model's adapter into another format (GGUF for llama.cpp and Ollama), made by the
 * `export-gguf` job. One row per source file's content: UNIQUE(artifact, format, source SHA-256) makes two
 * requests at once one job and one file, and a second request of a ready export instant. The result is one of
 * the model's files (`file_id`); the row goes with that file (a pruned checkpoint takes its export along).
 */
export const modelExports = pgTable(
  'model_exports',
  {
    id: id(),
    artifactId: uuid('artifact_id')
      .notNull()
      .references(() => modelArtifacts.id, { onDelete: 'cascade' }),
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    format: text('format', { enum: ['gguf'] }).notNull(),
    /** The checkpoint folder asked for; null for the model's main adapter. */
    checkpoint: text('checkpoint'),
    /** The adapter weights file converted, and its SHA-256 (the cache key). */
    sourcePath: text('source_path').notNull(),
    sourceSha256: text('source_sha256').notNull(),
    status: text('status', { enum: ['queued', 'running', 'ready', 'failed'] })
      .notNull()
      .default('queued'),
    fileId: uuid('file_id').references(() => artifactFiles.id, { onDelete: 'cascade' }),
    /** Why it failed, in words for the user. */
    error: text('error'),
    requestedBy: text('requested_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    unique('model_exports_source_key').on(t.artifactId, t.format, t.sourceSha256),
    index('model_exports_file_idx').on(t.fileId),
    index('model_exports_artifact_idx').on(t.artifactId, t.createdAt),
    // The two closed vocabularies, checked where the rows live.
    check('model_exports_status_check', sql`${t.status} in ('queued', 'running', 'ready', 'failed')`),
    check('model_exports_format_check', sql`${t.format} in ('gguf')`),
  ],
);
