import { and, isNull, sql } from 'drizzle-orm';
import { prepared, type Tx } from '../../db/client.ts';
import { modelArtifacts, workspaceMembers } from '../../db/schema/index.ts';
import { myMembership, reachValues } from '../models/queries.ts';
import type { Reach } from '../workspaces/roles.ts';

/**
 * The live models among `modelIds` that `reach` can read, with what names their folder in the zip (family,
 * version), its promoted checkpoint and the caller's role. One statement; a model not there, a stranger's or in the trash is no row.
 */
export function downloadableModels(tx: Tx, reach: Reach, modelIds: string[]) {
  return prepared(
    tx,
    'downloadableModels',
    (b) =>
      b
        .select({
          id: modelArtifacts.id,
          family: modelArtifacts.family,
          version: modelArtifacts.version,
          createdAt: modelArtifacts.createdAt,
          mainCheckpoint: modelArtifacts.mainCheckpoint,
          role: workspaceMembers.role,
        })
        .from(modelArtifacts)
        .innerJoin(workspaceMembers, myMembership())
        .where(and(sql`${modelArtifacts.id} = any(${sql.placeholder('modelIds')}::uuid[])`, isNull(modelArtifacts.deletedAt))),
    { modelIds: `{${modelIds.join(',')}}`, ...reachValues(reach) },
  );
}
