import { and, isNull, sql } from 'drizzle-orm';
import { prepared, type Tx } from '../../db/client.ts';
import { modelArtifacts, workspaceMembers } from '../../db/schema/index.ts';
import { cardColumns, myMembership, reachValues } from '../models/queries.ts';
import type { Reach } from '../workspaces/roles.ts';

/**
 * The live models among `modelIds` that the caller can read (any of their workspaces; a token its own),
 * each with the columns of its card (as models.get reads them) and the caller's role there. One statement
 * (`id = any($1)`): a model not there, of a stranger's workspace or in the trash is simply no row.
 */
export function compareModels(tx: Tx, reach: Reach, modelIds: string[]) {
  return prepared(
    tx,
    'compareModels',
    (b) =>
      b
        .select({
          id: modelArtifacts.id,
          // name, family and version come with cardColumns.
          createdAt: modelArtifacts.createdAt,
          workspaceId: modelArtifacts.workspaceId,
          role: workspaceMembers.role,
          qualityScore: modelArtifacts.qualityScore,
          convergenceQuality: modelArtifacts.convergence,
          totalCost: modelArtifacts.totalCost,
          ...cardColumns,
        })
        .from(modelArtifacts)
        .innerJoin(workspaceMembers, myMembership())
        .where(and(sql`${modelArtifacts.id} = any(${sql.placeholder('modelIds')}::uuid[])`, isNull(modelArtifacts.deletedAt))),
    { modelIds: `{${modelIds.join(',')}}`, ...reachValues(reach) },
  );
}
