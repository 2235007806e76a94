// Types flow from AppRouter: these calls are wrong, and tsc must say so. Were the client typed `any`,
// each @ts-expect-error would be unused and the type check would fail.
import { createClient } from '../../server/client.ts';

const api = createClient({ baseUrl: 'http://127.0.0.1:1', token: 'lora_x' });

export async function wrongCalls() {
  // @ts-expect-error limit is a number
  await api.models.list.query({ limit: 'x' });
  // @ts-expect-error modelId is a uuid string (or name the model by `ref`)
  await api.models.get.query({ modelId: 42 });
  // @ts-expect-error download is a mutation, not a query
  await api.models.download.query({ modelId: '00000000-0000-4000-8000-000000000000' });
  const model = await api.models.get.query({ modelId: '00000000-0000-4000-8000-000000000000' });
  // @ts-expect-error no such field on a model
  model.storagePrefix;
  const sha: string = model.files[0]!.sha256;
  return sha;
}
