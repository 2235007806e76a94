import path from 'node:path';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';

const MIGRATIONS = path.join(import.meta.dir, 'migrations');
// An arbitrary constant shared by every process of this service: whoever holds it migrates.
const LOCK_KEY = 0x10_4a_a7_1f;

/**
 * Applies committed migrations under a Postgres advisory lock, so two processes starting together
 * take turns instead of racing; the second finds nothing left to do.
 */
export async function runMigrations(url: string): Promise<void> {
  // One connection: the session-level advisory lock and the migration share it.
  const client = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await client`select pg_advisory_lock(${LOCK_KEY})`;
    try {
      await migrate(drizzle(client), { migrationsFolder: MIGRATIONS, migrationsSchema: 'drizzle' });
    } finally {
      await client`select pg_advisory_unlock(${LOCK_KEY})`;
    }
  } finally {
    await client.end({ timeout: 5 });
  }
}
