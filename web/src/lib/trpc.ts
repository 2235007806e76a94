import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import type { AppRouter } from '../../../server/trpc/root.ts';

/** The dashboard's typed client: same origin, session cookie, plain JSON (no transformer); batches as the server allows. */
export const api = createTRPCClient<AppRouter>({
  links: [
    httpBatchLink({ url: '/trpc', maxItems: 10, fetch: (url, init) => fetch(url, { ...init, credentials: 'include', signal: deadline(init) }) }),
  ],
});

/** How long a read may hang before it counts as failed: a server that accepts and never answers is down too. */
const READ_DEADLINE_MS = 10_000;

// Reads (GET) only: a mutation that is slow may still be doing its work, and must not be sent twice by a retry.
function deadline(init: RequestInit | undefined): AbortSignal | null | undefined {
  if (init?.method !== undefined && init.method !== 'GET') return init.signal;
  const timeout = AbortSignal.timeout(READ_DEADLINE_MS);
  return init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
}

export type ModelSummary = Awaited<ReturnType<typeof api.models.list.query>>['models'][number];
export type ModelDetail = Awaited<ReturnType<typeof api.models.get.query>>;
export type Download = Awaited<ReturnType<typeof api.models.download.mutate>>;
export type Workspace = Awaited<ReturnType<typeof api.workspaces.list.query>>[number];
export type Role = Workspace['role'];
export type Comparison = Awaited<ReturnType<typeof api.models.compare.query>>;

/** zod's issues as the server's error formatter sends them (server/trpc/init.ts): by dotted field path. */
interface ValidationErrors {
  formErrors: string[];
  fieldErrors: Record<string, string[]>;
}

function validationErrors(err: unknown): ValidationErrors | null {
  if (!(err instanceof TRPCClientError)) return null;
  const data = err.data as { zodError?: ValidationErrors | null } | undefined;
  return data?.zodError ?? null;
}

/** `keepCheckpoints` → `Keep checkpoints`: a field path's last part, as a label to start a sentence with. */
function labelOf(field: string): string {
  const words = (field.split('.').pop() ?? field).replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const LIMIT_WORD: Record<string, string> = { '<=': 'at most', '<': 'less than', '>=': 'at least', '>': 'more than', 'exactly ': 'exactly' };

/**
 * One of zod's messages about `label` as a sentence a person reads: `Too big: expected string to have <=200
 * characters` → `Search must be at most 200 characters.` Messages the service wrote itself are sentences
 * already, or fragments that start with a verb (`is nested more than 20 levels deep`) and follow the label.
 */
function sentence(label: string, message: string): string {
  const m = message.trim();
  let match = /^Too (?:big|small): expected (\w+) to (?:have|be) (<=|<|>=|>|exactly )(-?[\d.e+]+)(?: (\w+))?$/.exec(m);
  if (match) {
    const [, origin = '', op = '', n = '', unit] = match;
    if (op === '>=' && n === '1' && origin === 'string') return `${label} cannot be empty.`;
    if (op === '>=' && n === '1' && origin === 'array') return `${label} needs at least one.`;
    const amount = unit
      ? `${LIMIT_WORD[op]} ${Number(n).toLocaleString('en-US')} ${Number(n) === 1 ? unit.replace(/s$/, '') : unit}`
      : `${LIMIT_WORD[op]} ${n}`;
    return `${label} must be ${unit ? `${amount} long` : amount}.`.replace(' items long', ' items').replace(' item long', ' item');
  }
  match = /^Invalid input: expected (\w+), received (\w+)$/.exec(m);
  if (match) return match[2] === 'undefined' ? `${label} is required.` : `${label} must be ${/^[aeiou]/.test(match[1]!) ? 'an' : 'a'} ${match[1]}.`;
  match = /^Invalid (?:option|input): expected (?:one of )?(.+)$/.exec(m);
  if (match) return `${label} must be one of: ${match[1]!.replace(/"/g, '').split('|').join(', ')}.`;
  match = /^Invalid (email address|URL|UUID|ISO datetime|ISO date)$/.exec(m);
  if (match) return `${label} must be a valid ${match[1]}.`;
  match = /^Invalid string: must (start with|end with|include) (.+)$/.exec(m);
  if (match) return `${label} must ${match[1]} ${match[2]}.`;
  if (/^Invalid string: must match pattern/.test(m)) return `${label} has characters or a form that is not accepted.`;
  if (/^Unrecognized keys?:/.test(m)) return `${label} has fields that are not accepted.`;
  if (/^Invalid (input|number|value|key)/.test(m) || /^[[{]/.test(m)) return `${label} is not valid.`;
  // A fragment of our own (`is …`, `must …`, `has …`) follows the label; a sentence of our own stays as written.
  const full = /^[a-z]/.test(m) ? `${label} ${m}` : m;
  return /[.!?]$/.test(full) ? full : `${full}.`;
}

/**
 * The server's message about one input field (`name`, `tags`, `settings.keepCheckpoints`) as a sentence, to
 * show next to it; `label` is how the field is named on the page (default: from its path).
 */
export function fieldError(err: unknown, field: string, label = labelOf(field)): string | null {
  const message = validationErrors(err)?.fieldErrors[field]?.[0];
  return message === undefined ? null : sentence(label, message);
}

/** The tRPC error code of a failed call ('NOT_FOUND', 'UNAUTHORIZED', ...), if it is one. */
export function errorCode(err: unknown): string | null {
  if (err instanceof TRPCClientError) {
    const data = err.data as { code?: string } | undefined;
    return data?.code ?? null;
  }
  return null;
}

const UNREACHABLE = 'Could not reach the server. Check your connection and try again.';

/** A message safe and useful to show. */
export function errorMessage(err: unknown): string {
  if (err instanceof TRPCClientError) {
    if (!err.data) return UNREACHABLE;
    // A refused input: its message is zod's JSON, so say it field by field, in sentences, instead.
    const invalid = validationErrors(err);
    if (invalid) {
      const lines = [
        ...invalid.formErrors.map((m) => sentence('The request', m)),
        ...Object.entries(invalid.fieldErrors).map(([field, messages]) => sentence(labelOf(field), messages[0] ?? '')),
      ];
      if (lines.length > 0) return lines.join(' ');
    }
    // Never a raw payload: a message that is JSON (or empty) says only that the request was refused.
    return /^\s*[[{]/.test(err.message) || !err.message.trim()
      ? 'The server refused this request. Check what you entered and try again.'
      : err.message;
  }
  // fetch's own failures (no answer, a deadline): a network problem, whatever the browser calls it.
  if (err instanceof TypeError || (err instanceof DOMException && (err.name === 'AbortError' || err.name === 'TimeoutError'))) return UNREACHABLE;
  if (err instanceof Error) return err.message;
  return 'Something went wrong.';
}
