// How an integrator uses the typed client: list models, download one file, print its SHA-256.
// Run: BASE_URL=… TOKEN=… MODEL_ID=… bun tests/client-project/example.ts
import { createHash } from 'node:crypto';
import { createClient, type AppRouter } from '../../server/client.ts';

/** Output types come from the router's type alone, e.g. one page of the catalogue. */
type ModelList = AppRouter['models']['list']['_def']['$types']['output'];

const baseUrl = process.env.BASE_URL;
const token = process.env.TOKEN;
const modelId = process.env.MODEL_ID;
if (!baseUrl || !token || !modelId) {
  console.error('set BASE_URL, TOKEN and MODEL_ID');
  process.exit(2);
}

const api = createClient({ baseUrl, token });

const list: ModelList = await api.models.list.query({ sort: 'recent', limit: 12 });
const model = list.models.find((m) => m.id === modelId);
if (!model) throw new Error(`model ${modelId} is not in the catalogue`);

const { files, expiresAt } = await api.models.download.mutate({ modelId });
const file = files[0];
if (!file) throw new Error('the model has no files');

const res = await fetch(file.url);
if (!res.ok || !res.body) throw new Error(`download failed: ${res.status}`);
const hash = createHash('sha256');
const reader = res.body.getReader();
for (let next = await reader.read(); !next.done; next = await reader.read()) hash.update(next.value);

console.log(
  JSON.stringify({
    listed: list.pagination.total,
    model: model.name,
    fileId: file.id,
    path: file.path,
    sha256: hash.digest('hex'),
    expiresAt,
  }),
);
