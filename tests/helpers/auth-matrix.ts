import { describe, expect, test } from 'bun:test';

/**
 * The shared auth matrix (after unkey's `runSharedRoleTests`): for one procedure and a valid input, the
 * same checks every procedure must pass, so a new procedure gets them by adding one line to
 * tests/integration/auth-matrix.test.ts instead of copying cases into its own file.
 *
 * - no credentials, and a token that does not exist: UNAUTHORIZED
 * - the wrong kind of credential (an API token for a worker call, a worker token for a user call): UNAUTHORIZED
 * - another user's (or another job's) record: NOT_FOUND, the same as a record that does not exist
 * - input the schema refuses: BAD_REQUEST naming the field
 * - and, so the matrix can fail, the owner's valid call is accepted (no auth or input error)
 */

type Caller = 'user' | 'worker';

/** What the matrix calls with: the service URL and two identities of each kind. */
export interface MatrixWorld {
  url: string;
  owner: { token: string; workerToken: string };
  other: { token: string; workerToken: string };
}

export interface ProcedureSpec<W extends MatrixWorld> {
  /** `models.get` */
  path: string;
  type: 'query' | 'mutation';
  /** Who may call it: a signed-in user (session or API token) or a training job's worker. */
  caller: Caller;
  /** The owner's valid input (built from the world, once its records exist). */
  input?: (world: W) => unknown;
  /** An input the schema refuses, and the field its error names. */
  invalid?: { input: unknown; field: string };
  /** Whether the input names a record: then another identity's call with it is NOT_FOUND. */
  ownsRecord?: boolean;
  /** The owner's credential for this one procedure, when it is not `owner.token` (a token of another workspace). */
  ownToken?: (world: W) => string;
}

interface CallResult {
  status: number;
  code: string | null;
  fields: string[];
}

/** One tRPC call over plain HTTP, as any client makes it. */
async function callProcedure(url: string, path: string, type: 'query' | 'mutation', input: unknown, token?: string): Promise<CallResult> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const query = type === 'query' && input !== undefined ? `?input=${encodeURIComponent(JSON.stringify(input))}` : '';
  const res = await fetch(`${url}/trpc/${path}${query}`, {
    method: type === 'query' ? 'GET' : 'POST',
    headers,
    ...(type === 'mutation' ? { body: JSON.stringify(input ?? null) } : {}),
  });
  const body = (await res.json()) as { error?: { data?: { code?: string; zodError?: { fieldErrors?: Record<string, string[]> } | null } } };
  return {
    status: res.status,
    code: body.error?.data?.code ?? null,
    fields: Object.keys(body.error?.data?.zodError?.fieldErrors ?? {}),
  };
}

/** Registers the matrix of `spec` as tests under `describe(spec.path)`; `world()` is read when they run. */
export function runSharedAuthTests<W extends MatrixWorld>(world: () => W, spec: ProcedureSpec<W>): void {
  const call = (input: unknown, token?: string) => callProcedure(world().url, spec.path, spec.type, input, token);
  const own = (w: W) => spec.ownToken?.(w) ?? (spec.caller === 'user' ? w.owner.token : w.owner.workerToken);
  const others = (w: W) => (spec.caller === 'user' ? w.other.token : w.other.workerToken);
  const wrongKind = (w: W) => (spec.caller === 'user' ? w.owner.workerToken : w.owner.token);
  const input = () => spec.input?.(world());

  describe(spec.path, () => {
    test('no credentials, an unknown token, the wrong kind of token: UNAUTHORIZED', async () => {
      const w = world();
      const unknown = spec.caller === 'user' ? 'lat_no-such-token' : 'lwt_no-such-token';
      for (const token of [undefined, unknown, 'not-even-a-prefix', wrongKind(w)]) {
        const r = await call(input(), token);
        expect({ token: token?.slice(0, 4), code: r.code, status: r.status }).toEqual({
          token: token?.slice(0, 4),
          code: 'UNAUTHORIZED',
          status: 401,
        });
      }
    });

    if (spec.ownsRecord) {
      test("another identity's record: NOT_FOUND", async () => {
        const r = await call(input(), others(world()));
        expect(r.code).toBe('NOT_FOUND');
        expect(r.status).toBe(404);
      });
    }

    if (spec.invalid) {
      const invalid = spec.invalid;
      test(`invalid input: BAD_REQUEST naming ${invalid.field}`, async () => {
        const r = await call(invalid.input, own(world()));
        expect(r.code).toBe('BAD_REQUEST');
        expect(r.fields).toContain(invalid.field);
      });
    }

    test("the owner's valid call is accepted", async () => {
      const r = await call(input(), own(world()));
      expect(r.code).not.toBeOneOf(['UNAUTHORIZED', 'BAD_REQUEST', 'NOT_FOUND', 'INTERNAL_SERVER_ERROR']);
    });
  });
}
