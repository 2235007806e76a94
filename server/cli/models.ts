/** `lora models ls` and `lora models show`: a table (or --json) of what the service answers. */
import type { createClient } from '../client.ts';
import { formatBytes, table } from './format.ts';

type Api = ReturnType<typeof createClient>;

const date = (iso: string | null) => (iso ? iso.slice(0, 10) : '');
const score = (s: number | null) => (s === null ? '-' : `${s}/5`);

export async function listModels(
  api: Api,
  options: { sort: 'recent' | 'quality'; tags: string[]; limit: number; json: boolean },
  print: (text: string) => void,
): Promise<void> {
  const page = await api.models.list.query({
    sort: options.sort,
    limit: options.limit,
    ...(options.tags.length ? { filter: { tags: options.tags } } : {}),
  });
  if (options.json) return print(JSON.stringify(page.models, null, 2));
  if (page.models.length === 0) return print(options.tags.length ? `No model carries the tags ${options.tags.join(', ')}.` : 'No models yet.');
  print(
    table(
      ['ID', 'REF', 'NAME', 'SCORE', 'CONVERGENCE', 'SIZE', 'CREATED', 'TAGS'],
      page.models.map((m) => [
        m.id,
        m.ref,
        m.name,
        score(m.qualityScore),
        m.convergenceQuality ?? '-',
        formatBytes(m.totalBytes),
        date(m.createdAt),
        m.tags.join(','),
      ]),
    ),
  );
  if (page.pagination.total > page.models.length) print(`(${page.models.length} of ${page.pagination.total}; --limit N shows up to 100)`);
}

export async function showModel(api: Api, ref: string, options: { json: boolean }, print: (text: string) => void): Promise<void> {
  const m = await api.models.get.query({ ref });
  if (options.json) return print(JSON.stringify(m, null, 2));
  const lines = [
    `${m.name}  (${m.ref})`,
    `id           ${m.id}`,
    `aliases      ${m.aliases.length ? m.aliases.map((a) => `${m.family}@${a}`).join(', ') : '-'}`,
    `quality      ${score(m.qualityScore)}${m.convergenceQuality ? `, ${m.convergenceQuality}` : ''}`,
    `size         ${formatBytes(m.totalBytes)} in ${m.files.length} files`,
    `created      ${m.createdAt}`,
    ...(m.tags.length ? [`tags         ${m.tags.join(', ')}`] : []),
    ...(m.description ? [`description  ${m.description}`] : []),
  ];
  const checkpoints = m.checkpoints.items.filter((c) => !c.pruned);
  if (checkpoints.length) {
    const main = m.checkpoints.main ? ` (serving ${m.checkpoints.main})` : '';
    lines.push(`checkpoints  ${checkpoints.map((c) => c.name).join(', ')}${main}`);
  }
  print(lines.join('\n'));
  print('');
  print(
    table(
      ['PATH', 'SIZE', 'SHA-256'],
      m.files.map((f) => [f.path, formatBytes(f.sizeBytes), f.sha256]),
    ),
  );
  print('');
  print(`lora pull ${m.ref}`);
}
