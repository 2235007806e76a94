/**
 * Child of copy-memory.ts: copies one file with copyToStorage in a fresh process and prints its peak
 * RSS (VmHWM from /proc/self/status, read after the copy). Args: <srcDir> <fileName> <storageRoot>.
 * With `--baseline` it imports the same modules and copies nothing.
 */
import fs from 'node:fs';
import { copyToStorage } from '../../server/ingest/copy.ts';
import { FileSource } from '../../server/ingest/sources/file-source.ts';
import { createFsStorage } from '../../server/storage/fs.ts';

const [srcDir, fileName, root] = process.argv.slice(2);
const baseline = process.argv.includes('--baseline');
let ms = 0;
if (!baseline) {
  const storage = createFsStorage({ root: root!, publicUrl: 'http://127.0.0.1:1', secret: 'bench-secret-0123456789' });
  const source = new FileSource(`file://${srcDir}`);
  const file = (await source.list()).find((f) => f.path === fileName)!;
  const t = performance.now();
  await copyToStorage({ source, file, storage, key: 'bench-user/bench-artifact/0', fileName });
  ms = performance.now() - t;
}
const status = fs.readFileSync('/proc/self/status', 'utf8');
const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
console.log(JSON.stringify({ vmHWMKiB: kb('VmHWM'), vmRSSKiB: kb('VmRSS'), ms }));
