import path from 'node:path';
import { EnvError, parseEnv, type Env } from './env.ts';
import { createLogger } from './logger.ts';
import { startService, StartupError, type Service } from './runtime.ts';

// `bun run start`: API + web + workers in one process (ROLE=api|worker to split them).
let env: Env;
try {
  env = parseEnv(process.env);
} catch (e) {
  if (e instanceof EnvError) {
    console.error(e.message);
    process.exit(1);
  }
  throw e;
}
const log = createLogger(env.logLevel);
let service: Service;
try {
  service = await startService({
    env,
    log,
    webDist: path.join(import.meta.dir, '..', 'web', 'dist'),
    // The embedded database keeps dying: exit non-zero so that systemd, Kubernetes or Docker restarts us.
    onFatal: () => process.exit(1),
  });
} catch (e) {
  console.error(e instanceof StartupError ? `cannot start: ${e.message}` : `cannot start: ${(e as Error).message ?? e}`);
  process.exit(1);
}
const svc = service;
if (svc.url) {
  console.log(`LoRA artifact service ready on ${svc.url} (role ${env.role}; public URL ${env.publicUrl})`);
  // What a first run does next, said where the operator is looking.
  console.log(
    `Next: open ${env.publicUrl} in a browser and sign up; ` +
      `then, to see a training run land, run \`bun run demo\` in a second terminal${env.publicUrl === 'http://127.0.0.1:3000' ? '' : ` with PUBLIC_URL=${env.publicUrl}`}.`,
  );
} else console.log(`LoRA artifact worker ready (role ${env.role}${svc.probesUrl ? `; /healthz, /readyz and /metrics on ${svc.probesUrl}` : ''})`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    await svc.stop();
    process.exit(0);
  });
}
