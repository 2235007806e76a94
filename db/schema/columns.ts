import { timestamp, uuid } from 'drizzle-orm/pg-core';

/** Shared column helpers: every table keys on a server-generated uuid and records when it was made. */
export const id = () => uuid('id').primaryKey().defaultRandom();
export const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow();
export const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
