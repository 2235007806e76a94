/**
 * Serving a signed link against nginx, the anchor a file server is judged by: a ~2 GB stored file (fs
 * storage, the default) fetched by curl through our signed URL, and the same file served by Debian's nginx
 * (`sendfile on`, one worker, like our one Bun process) started here on a loopback port. The two alternate,
 * best of 3 each, page cache hot for both; goal: ours ≥ 0.9 × nginx. Without nginx installed the ratio
 * reads "skipped". Standalone: `bun tests/bench/signed-link.ts`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeRandomFile } from '../fixtures/lora.ts';
import { insertArtifact } from '../helpers/factories.ts';
import { freePort } from '../helpers/net.ts';
import { newUser, startTestService } from '../helpers/service.ts';
import { emit, info, mbPerSecond, tempDir } from './lib.ts';

const BENCH = 'signed-link';
const BYTES = 2_000_000_000;
const ROUNDS = 3;
const NGINX = '/usr/sbin/nginx';

/** One curl download to /dev/null: the milliseconds curl itself measured (no process start-up), and the bytes. */
async function curl(url: string): Promise<{ ms: number; bytes: number }> {
  const proc = Bun.spawn(['curl', '-sf', '-o', '/dev/null', '-w', '%{size_download} %{time_total}', url], { stdout: 'pipe', stderr: 'inherit' });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`curl ${url} failed`);
  const [bytes, seconds] = out.trim().split(' ').map(Number);
  return { ms: seconds! * 1000, bytes: bytes! };
}

/** nginx in the foreground on `port`, serving `root`, everything it writes under `dir`. */
async function startNginx(dir: string, root: string, port: number): Promise<{ stop: () => Promise<void> }> {
  const conf = path.join(dir, 'nginx.conf');
  const temp = (name: string) => path.join(dir, name);
  fs.writeFileSync(
    conf,
    `user root;
worker_processes 1;
pid ${temp('nginx.pid')};
error_log ${temp('error.log')} warn;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path ${temp('body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`,
  );
  const proc = Bun.spawn([NGINX, '-p', dir, '-c', conf, '-g', 'daemon off;'], { stdout: 'ignore', stderr: 'inherit' });
  // Ready when it answers; it exits at once on a bad config, which ends the wait too.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nginx exited ${proc.exitCode}: ${fs.readFileSync(temp('error.log'), 'utf8').slice(-300)}`);
    const ok = await fetch(`http://127.0.0.1:${port}/`, { method: 'HEAD' }).then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error('nginx did not answer within 10 s');
    await Bun.sleep(50);
  }
  return {
    async stop() {
      proc.kill('SIGTERM');
      await proc.exited;
    },
  };
}

export async function main() {
  const svc = await startTestService({ label: 'bench_signed_link' });
  const work = tempDir('signed-link');
  let nginx: { stop: () => Promise<void> } | null = null;
  try {
    // Stored where and as the fs driver keeps an ingested file, as one file of a model of the user's; the link
    // is the one models.download signs for them (so each download also asks whether they still may read it).
    const { api, userId } = await newUser(svc, 'bench-signed-link');
    const model = await insertArtifact(svc.deps, userId, { files: [{ path: 'big.safetensors', kind: 'adapter_weights' }] });
    const key = model.files[0]!.key;
    const root = path.join(svc.dataDir, 'storage');
    const filePath = path.join(root, ...key.split('/'));
    await writeRandomFile(filePath, BYTES, 'signed-link');
    const ours = (await api.models.download.mutate({ modelId: model.id })).files[0]!.url;

    let nginxUrl: string | null = null;
    if (fs.existsSync(NGINX)) {
      const port = await freePort();
      nginx = await startNginx(work.dir, root, port);
      nginxUrl = `http://127.0.0.1:${port}/${key}`;
    }

    const best = { ours: Infinity, nginx: Infinity };
    // One unmeasured read each first, so both start with the file in the page cache.
    await curl(ours);
    if (nginxUrl) await curl(nginxUrl);
    for (let round = 0; round < ROUNDS; round++) {
      const a = await curl(ours);
      if (a.bytes !== BYTES) throw new Error(`signed link sent ${a.bytes} bytes of ${BYTES}`);
      best.ours = Math.min(best.ours, a.ms);
      if (nginxUrl) {
        const b = await curl(nginxUrl);
        if (b.bytes !== BYTES) throw new Error(`nginx sent ${b.bytes} bytes of ${BYTES}`);
        best.nginx = Math.min(best.nginx, b.ms);
      }
    }
    const oursMBs = mbPerSecond(BYTES, best.ours);
    emit(BENCH, 'signed-link download 2 GB, curl (best of 3)', oursMBs, 'MB/s');
    if (nginxUrl) {
      const nginxMBs = mbPerSecond(BYTES, best.nginx);
      emit(BENCH, 'anchor: nginx sendfile, same file, curl (best of 3)', nginxMBs, 'MB/s');
      emit(BENCH, 'ratio signed-link / nginx', oursMBs / nginxMBs, 'x', '>= 0.9', 'loopback, page cache hot, alternating rounds');
    } else {
      info(BENCH, `${NGINX} not found: no anchor`);
      emit(BENCH, 'ratio signed-link / nginx', 'skipped', '', '>= 0.9', 'nginx is not installed (Debian package nginx)');
    }
  } finally {
    await nginx?.stop();
    await svc.stop();
    work.done();
  }
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
