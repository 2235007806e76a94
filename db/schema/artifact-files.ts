import { sql } from 'drizzle-orm';
import { bigint, check, index, pgTable, text, unique, uuid } from 'drizzle-orm/pg-core';
import { createdAt, id } from './columns.ts';
import { modelArtifacts } from './model-artifacts.ts';
import { workspaces } from './workspaces.ts';

export const artifactFiles = pgTable(
  'artifact_files',
  {
    id: id(),
    artifactId: uuid('artifact_id')
      .notNull()
      .references(() => modelArtifacts.id, { onDelete: 'cascade' }),
    /** The model's workspace, kept on the file too so row-level security reads no join. */
    workspaceId: uuid('workspace_id')
      .notNull()
      .references(() => workspaces.id, { onDelete: 'cascade' }),
    /** Relative path as the training run named it (validated); never used in a storage key. */
    path: text('path').notNull(),
    /** The path as the training output named it, when it had to be renamed (it collided with a generated file). */
    sourcePath: text('source_path'),
    storageKey: text('storage_key').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    sha256: text('sha256').notNull(),
    /** Plain text in SQL; the tuple only types it, and server/vocabulary.ts reads it as FILE_KINDS. */
    /** `model_card` (the generated README.md) and `export` (a GGUF made by models.export) are the service's own; the rest the ingest classifies. */
    kind: text('kind', { enum: ['adapter_weights', 'adapter_config', 'tokenizer', 'checkpoint', 'log', 'other', 'model_card', 'export'] }).notNull(),
    contentType: text('content_type').notNull(),
    /** The format its first bytes show (server/ingest/inspect/sniff.ts); null for anything else, and for files stored before it was read. */
    format: text('format', { enum: ['safetensors', 'torch_zip', 'pickle', 'gguf'] }),
    createdAt: createdAt(),
  },
  (t) => [
    unique('artifact_files_artifact_path_key').on(t.artifactId, t.path),
    index('artifact_files_storage_key_idx').on(t.storageKey),
    check('artifact_files_format_check', sql`${t.format} in ('safetensors', 'torch_zip', 'pickle', 'gguf')`),
  ],
);
