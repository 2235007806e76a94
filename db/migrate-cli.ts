// `bun run db:migrate`: applies migrations to DATABASE_URL, or to the embedded cluster under DATA_DIR.
import { parseEnv } from '../server/env.ts';
import { startEmbeddedPostgres } from './embedded.ts';
import { runMigrations } from './migrate.ts';

const env = parseEnv(process.env);
const embedded = env.databaseUrl ? null : await startEmbeddedPostgres({ dataDir: env.dataDir });
try {
  await runMigrations(env.databaseUrl ?? embedded!.url);
  console.log('migrations applied');
} finally {
  await embedded?.stop();
}
