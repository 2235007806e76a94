import { defineConfig } from 'drizzle-kit';

// Generation needs no database: `bun run db:generate` diffs db/schema against db/migrations.
// Applying migrations is done by the app itself (db/migrate.ts, under an advisory lock).
export default defineConfig({
  dialect: 'postgresql',
  schema: './db/schema/index.ts',
  out: './db/migrations',
  casing: 'snake_case',
});
