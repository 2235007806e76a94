import { and, eq, isNull } from 'drizzle-orm';
import type { Tx } from '../../db/client.ts';
import { modelArtifacts } from '../../db/schema/index.ts';

/** What models.update changes; an absent field is left as it is. */
export interface ModelEdit {
  name?: string | undefined;
  description?: string | undefined;
  tags?: string[] | undefined;
}

const editedColumns = { id: modelArtifacts.id, name: modelArtifacts.name, description: modelArtifacts.description, tags: modelArtifacts.tags };

/** Applies `edit` to the live model and returns its edited fields; null when it is gone or in the trash. */
export async function updateModel(tx: Tx, modelId: string, edit: ModelEdit) {
  const live = and(eq(modelArtifacts.id, modelId), isNull(modelArtifacts.deletedAt));
  const set = Object.fromEntries(Object.entries(edit).filter(([, v]) => v !== undefined)) as ModelEdit;
  // Nothing to change: an UPDATE needs one column, and the caller gets the fields as they are.
  const [row] = Object.keys(set).length
    ? await tx.update(modelArtifacts).set(set).where(live).returning(editedColumns)
    : await tx.select(editedColumns).from(modelArtifacts).where(live);
  return row ?? null;
}
