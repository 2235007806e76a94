/**
 * The registry's names and the one reference grammar every surface reads (typed client, CLI,
 * `models.download({ ref })`, `models.resolve`): a model id, `family` (its latest version),
 * `family@v3` (a version), `family@production` (an alias).
 */

/** A family name: lower-case slug, as jobs.create takes it and the catalogue groups by it. */
export const FAMILY_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** An alias: `production`, `staging`; never a version (`v3`), so `family@v3` has one meaning. */
export const ALIAS_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

const VERSION_PATTERN = /^v([1-9][0-9]{0,8})$/;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for an alias that reads as a version (`v3`), which is refused. */
export function looksLikeVersion(alias: string): boolean {
  return /^v[0-9]+$/.test(alias);
}

/**
 * The family a run joins when jobs.create names none: its name made a slug (lower case, runs of anything
 * else as `-`, at most 64 characters). Migration 0008 computed the same in SQL for runs made before.
 */
export function familyFromName(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 64)
    .replace(/[._-]+$/, '');
  return slug || 'model';
}

export type ModelRef =
  | { kind: 'id'; modelId: string }
  | { kind: 'latest'; family: string }
  | { kind: 'version'; family: string; version: number }
  | { kind: 'alias'; family: string; alias: string };

/** Parses a reference; null when it is none of the four forms (the caller says which field was wrong). */
export function parseRef(ref: string): ModelRef | null {
  if (UUID_PATTERN.test(ref)) return { kind: 'id', modelId: ref.toLowerCase() };
  const at = ref.indexOf('@');
  const family = at < 0 ? ref : ref.slice(0, at);
  if (!FAMILY_PATTERN.test(family)) return null;
  if (at < 0) return { kind: 'latest', family };
  const tail = ref.slice(at + 1);
  const version = VERSION_PATTERN.exec(tail);
  if (version) return { kind: 'version', family, version: Number(version[1]) };
  if (ALIAS_PATTERN.test(tail) && !looksLikeVersion(tail)) return { kind: 'alias', family, alias: tail };
  return null;
}

/** The canonical text of a reference: `family@v3`. */
export function formatRef(family: string, version: number): string {
  return `${family}@v${version}`;
}
