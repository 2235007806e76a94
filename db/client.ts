import type { PgDialect } from 'drizzle-orm/pg-core';
import { drizzle, type PostgresJsDatabase, PostgresJsSession, PostgresJsTransaction } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema/index.ts';

type Schema = typeof schema;
/** What drizzle keeps of the schema for its relational queries (`db.query.*`), handed on to a transaction. */
type RelationalSchema = ConstructorParameters<typeof PostgresJsTransaction<Schema, never>>[2];
export type Db = PostgresJsDatabase<Schema>;
/** A transaction handle; user-scoped work receives one already under row-level security. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export interface Database {
  /** The owner's connection: migrations, auth, workers. Bypasses row-level security. */
  db: Db;
  /** The raw postgres.js client, owner role: for SQL on tables drizzle does not model (pg-boss's own). */
  client: postgres.Sql;
  /**
   * Runs `fn` in a transaction as the NOLOGIN role app_user with app.user_id (and a token's limits) set
   * for that transaction only, so Postgres itself hides every row of a workspace the caller is not a
   * member of, and refuses writes their role does not allow, whatever the query says (migration 0007).
   */
  asUser<T>(actor: RlsActor, fn: (tx: Tx) => Promise<T>, options?: UserTransactionOptions): Promise<T>;
  close(): Promise<void>;
}

/** Who a user transaction runs as, as row-level security sees it. */
export interface RlsActor {
  userId: string;
  /** A read-scoped API token: every role is capped at viewer. */
  readOnly?: boolean;
  /** An API token's workspace: the only one it reaches. */
  workspaceId?: string | null;
}

interface UserTransactionOptions {
  /**
   * COMMIT returns without waiting for the WAL flush (synchronous_commit off, this transaction only): for
   * records not worth a disk flush on the request path. The WAL writer makes them durable within ~200 ms;
   * only a crash of Postgres itself inside that window can lose them.
   */
  relaxedCommit?: boolean;
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
  // drizzle's own transaction object over one reserved connection: the same query builder, results
  // mapping and casing as db.transaction() gives, without postgres.js's awaited BEGIN (see asUser).
  const internals = db as unknown as {
    dialect: PgDialect;
    _: { session: { options: ConstructorParameters<typeof PostgresJsSession>[3] } } & RelationalSchema;
  };
  const relational: RelationalSchema = { fullSchema: internals._.fullSchema, schema: internals._.schema, tableNamesMap: internals._.tableNamesMap };
  const userTransaction = (conn: postgres.ReservedSql): Tx => {
    // A reserved connection lacks savepoint(): nested tx.transaction() is not supported inside asUser.
    const session = new PostgresJsSession(conn, internals.dialect, relational as never, internals._.session.options);
    return new PostgresJsTransaction(internals.dialect, session as never, relational as never) as unknown as Tx;
  };
  return {
    db,
    client,
    async asUser(actor, fn, options = {}) {
      // A reserved connection instead of client.begin(), which waits for BEGIN's answer before anything
      // else is sent. Here BEGIN, the RLS setup and fn's first queries leave in one write and come back
      // in one: a request under RLS costs its own queries plus COMMIT, not two more round trips.
      // Postgres runs a connection's messages in order, so nothing of fn's runs before the role is set;
      // should BEGIN or the setup fail, every later statement fails with it (never runs as the owner).
      const conn = await client.reserve();
      try {
        // app.role_cap 1 caps every role at viewer; app.workspace_id '' means every workspace of the user.
        const cap = actor.readOnly ? '1' : '';
        const workspace = actor.workspaceId ?? '';
        const entered = Promise.all([
          conn`begin`,
          // set_config('role', …, true) is SET LOCAL ROLE.
          options.relaxedCommit
            ? conn`select set_config('app.user_id', ${actor.userId}, true), set_config('app.role_cap', ${cap}, true), set_config('app.workspace_id', ${workspace}, true), set_config('role', 'app_user', true), set_config('synchronous_commit', 'off', true)`
            : conn`select set_config('app.user_id', ${actor.userId}, true), set_config('app.role_cap', ${cap}, true), set_config('app.workspace_id', ${workspace}, true), set_config('role', 'app_user', true)`,
        ]);
        // Awaited below; until then a rejection must not count as unhandled.
        entered.catch(() => {});
        const result = await fn(userTransaction(conn));
        await entered;
        await conn`commit`;
        return result;
      } catch (error) {
        // A broken connection cannot roll back; postgres.js drops it, and Postgres aborts the transaction.
        await conn`rollback`.catch(() => {});
        throw error;
      } finally {
        conn.release();
      }
    },
    close: () => client.end({ timeout: 5 }),
  };
}

/** What drizzle's `.prepare(name)` returns, as far as `prepared` needs it. */
interface PreparedStatement<T> {
  execute(values?: Record<string, unknown>): Promise<T>;
}

const statements = new Map<string, PreparedStatement<unknown>>();

/**
 * Runs a statement that drizzle builds once per `shape` and Postgres plans once per connection, in the
 * caller's transaction (so under its row-level security). Building a query is most of what a simple
 * read costs in JS (a catalogue page took ~0.5 ms of CPU to build and ~0.1 ms to run), and an unnamed
 * statement is parsed and planned by Postgres every time.
 *
 * `build` must put every value in as `sql.placeholder(name)`, taken from `values`; `shape` must name
 * everything that changes the SQL text (which filters are present, the sort). A value baked into the
 * built query would be served to every later caller of that shape: row-level security would still hide
 * another user's rows, but the answer would be wrong.
 */
export function prepared<T>(
  tx: Tx,
  shape: string,
  build: (tx: Tx) => { prepare(name: string): PreparedStatement<T> },
  values: Record<string, unknown>,
): Promise<T> {
  let statement = statements.get(shape) as PreparedStatement<T> | undefined;
  if (!statement) {
    statement = build(tx).prepare(shape);
    statements.set(shape, statement as PreparedStatement<unknown>);
  }
  // The statement keeps the connection (and logger) it was built with; this call runs on the caller's
  // transaction and logs to its session's logger. Assigned, not defined with a descriptor: that showed in profiles.
  const { session } = tx as unknown as { session: { client: unknown; logger: unknown } };
  const bound = Object.create(statement) as PreparedStatement<T> & { client: unknown; logger: unknown };
  bound.client = session.client;
  bound.logger = session.logger;
  return bound.execute(values);
}
