import { sql } from 'drizzle-orm';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema/index.ts';

type Schema = typeof schema;
export type Db = PostgresJsDatabase<Schema>;
/** A transaction handle; user-scoped work receives one already under row-level security. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export interface Database {
  /** The owner's connection: migrations, auth, workers. Bypasses row-level security. */
  db: Db;
  /** The raw postgres.js client, owner role: for SQL on tables drizzle does not model (pg-boss's own). */
  client: postgres.Sql;
  /**
   * Runs `fn` in a transaction as the NOLOGIN role app_user with app.user_id set for that
   * transaction only, so Postgres itself hides every other user's rows, whatever the query says.
   */
  asUser<T>(userId: string, fn: (tx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Opens the pool. `max` defaults to 10 connections per process. */
export function createDatabase(url: string, options: { max?: number } = {}): Database {
  const client = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    // Dates come back as Date objects; bigint sizes are mapped by the schema (mode: 'number').
    connection: { application_name: 'lora-artifacts' },
  });
  const db = drizzle(client, { schema, casing: 'snake_case' });
  return {
    db,
    client,
    asUser(userId, fn) {
      return db.transaction(async (tx) => {
        // One round trip: set_config('role', …, true) is SET LOCAL ROLE.
        await tx.execute(sql`select set_config('app.user_id', ${userId}, true), set_config('role', 'app_user', true)`);
        return fn(tx);
      });
    },
    close: () => client.end({ timeout: 5 }),
  };
}
