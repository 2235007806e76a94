// A refused download link (expired, tampered, revoked) as a browser sees it: an HTML page with a way back to
// the model (or, for a share link, to the share page the visitor was given), while curl keeps the status code
// and a one-line body. Covers the fs files route, the one-model bundle and the many-model bundle.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { workspaceMembers } from '../../db/schema/index.ts';
import { fileBytes, insertArtifact } from '../helpers/factories.ts';
import { client, fixedClock, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { MAX_LINK_LIFETIME_SECONDS } from '../../server/vocabulary.ts';

// Past any link's life, whatever lifetime the service signs with.
const PAST = MAX_LINK_LIFETIME_SECONDS + 1;

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';
const CURL_ACCEPT = '*/*';

let svc: TestService;
const clock = fixedClock();
let owner: Awaited<ReturnType<typeof newUser>>;
/** The owner's session: their personal token does not reach the team. */
let web: ReturnType<typeof client>;
let teamId: string;
let modelId: string;

const browserGet = (url: string, headers: Record<string, string> = {}) => fetch(url, { headers: { accept: BROWSER_ACCEPT, ...headers } });
const curlGet = (url: string) => fetch(url, { headers: { accept: CURL_ACCEPT } });

/** The page a browser gets: its status, a strict CSP that admits exactly its own inline style, no script, and its text. */
async function expectPage(res: Response, status: number, title: string): Promise<string> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(res.headers.get('content-disposition')).toBeNull();
  const html = await res.text();
  expect(html).toContain(`<h1>${title}</h1>`);
  expect(html).not.toContain('<script');
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("default-src 'none'");
  expect(csp).not.toContain('unsafe-inline');
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? '';
  expect(csp).toContain(`'sha256-${createHash('sha256').update(style).digest('base64')}'`);
  return html;
}

/** What curl gets: the same status, one line of JSON (the service's envelope), no page. */
async function expectOneLine(res: Response, status: number, code: string): Promise<void> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toStartWith('application/json');
  const body = await res.text();
  expect(body.trimEnd()).not.toContain('\n');
  expect((JSON.parse(body) as { error: { code: string } }).error.code).toBe(code);
}

const withParam = (url: string, name: string, value: string) => {
  const u = new URL(url);
  u.searchParams.set(name, value);
  return u.toString();
};
const tamperSig = (url: string) => {
  const sig = new URL(url).searchParams.get('sig')!;
  return withParam(url, 'sig', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1));
};

beforeAll(async () => {
  svc = await startTestService({ label: 'link-pages', now: clock.now });
  owner = await newUser(svc, 'owner');
  web = client(svc.url, { cookie: owner.cookie });
  teamId = (await web.workspaces.create.mutate({ name: 'Link team' })).id;
  const model = await insertArtifact(svc.deps, owner.userId, {
    workspaceId: teamId,
    name: 'link-page-model',
    files: [{ path: 'adapter_config.json', bytes: fileBytes('cfg', 64) }],
  });
  modelId = model.id;
}, 60_000);

afterAll(() => svc?.stop());

describe('a signed file link', () => {
  test('expired: the page says so and links back to the model; curl gets 403 and one line', async () => {
    const { files } = await web.models.download.mutate({ modelId });
    const url = files[0]!.url;
    expect((await curlGet(url)).status).toBe(200);
    clock.advance(PAST);
    try {
      const html = await expectPage(await browserGet(url), 403, 'This link expired: get a fresh one');
      expect(html).toContain(`<a href="/models/${modelId}">Back to the model</a>`);
      await expectOneLine(await curlGet(url), 403, 'FORBIDDEN');
      // No Accept at all (a script's fetch): the envelope too.
      await expectOneLine(await fetch(url), 403, 'FORBIDDEN');
    } finally {
      clock.advance(-PAST);
    }
  });

  test('tampered: the same page as expired (a forger learns nothing), and one line for curl', async () => {
    const { files } = await web.models.download.mutate({ modelId });
    for (const url of [tamperSig(files[0]!.url), withParam(files[0]!.url, 'exp', '1')]) {
      const html = await expectPage(await browserGet(url), 403, 'This link expired: get a fresh one');
      expect(html).toContain(`href="/models/${modelId}"`);
      await expectOneLine(await curlGet(url), 403, 'FORBIDDEN');
    }
  });

  test('revoked (the member was removed): "no longer works" with the way back; curl gets 403', async () => {
    const member = await newUser(svc, 'member');
    await svc.deps.database.db.insert(workspaceMembers).values({ workspaceId: teamId, userId: member.userId, role: 'member' });
    const { files } = await client(svc.url, { cookie: member.cookie }).models.download.mutate({ modelId });
    const url = files[0]!.url;
    expect((await curlGet(url)).status).toBe(200);
    await svc.deps.database.db
      .delete(workspaceMembers)
      .where(and(eq(workspaceMembers.workspaceId, teamId), eq(workspaceMembers.userId, member.userId)));
    const html = await expectPage(await browserGet(url), 403, 'This link no longer works');
    expect(html).toContain('You no longer have access to this file.');
    expect(html).toContain(`href="/models/${modelId}"`);
    await expectOneLine(await curlGet(url), 403, 'FORBIDDEN');
  });

  test('unshared: a share link’s file points the visitor to the share page they were given, not into the dashboard', async () => {
    const share = await web.models.share.mutate({ modelId });
    const links = await client(svc.url).shares.download.mutate({ token: share.token });
    const url = links.files[0]!.url;
    expect((await curlGet(url)).status).toBe(200);
    await web.models.unshare.mutate({ modelId });
    const html = await expectPage(await browserGet(url), 403, 'This link no longer works');
    expect(html).toContain('Open the share link you were given again');
    expect(html).not.toContain('/models/');
    await expectOneLine(await curlGet(url), 403, 'FORBIDDEN');
  });

  test('what the page shows from the request is escaped', async () => {
    const { files } = await web.models.download.mutate({ modelId });
    const html = await expectPage(
      await browserGet(tamperSig(files[0]!.url), { 'x-request-id': '<img src=x onerror=alert(1)>' }),
      403,
      'This link expired: get a fresh one',
    );
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});

describe('a bundle link', () => {
  test('expired and tampered: the page with the way back to the model; curl gets 403 and one line', async () => {
    const { bundle } = await web.models.download.mutate({ modelId });
    const url = bundle!.url;
    for (const bad of [tamperSig(url), withParam(url, 'g', `u:${crypto.randomUUID()}`)]) {
      const html = await expectPage(await browserGet(bad), 403, 'This link expired: get a fresh one');
      expect(html).toContain(`<a href="/models/${modelId}">Back to the model</a>`);
      await expectOneLine(await curlGet(bad), 403, 'FORBIDDEN');
    }
    clock.advance(PAST);
    try {
      await expectPage(await browserGet(url), 403, 'This link expired: get a fresh one');
      await expectOneLine(await curlGet(url), 403, 'FORBIDDEN');
    } finally {
      clock.advance(-PAST);
    }
  });

  test('revoked share: 404 page pointing to the share page; curl gets 404 and one line', async () => {
    const share = await web.models.share.mutate({ modelId });
    const links = await client(svc.url).shares.download.mutate({ token: share.token });
    const url = links.bundle!.url;
    expect((await fetch(url, { method: 'HEAD' })).status).toBe(200);
    await web.models.unshare.mutate({ modelId });
    const html = await expectPage(await browserGet(url), 404, 'This link no longer works');
    expect(html).toContain('Open the share link you were given again');
    await expectOneLine(await curlGet(url), 404, 'NOT_FOUND');
  });

  test('several models: a tampered link gets the page with the way back to the catalogue; curl one line', async () => {
    const other = await insertArtifact(svc.deps, owner.userId, { workspaceId: teamId, name: 'link-page-other' });
    const link = await web.models.downloadMany.mutate({ modelIds: [modelId, other.id] });
    const bad = tamperSig(link.url);
    const html = await expectPage(await browserGet(bad), 403, 'This link expired: get a fresh one');
    expect(html).toContain('<a href="/models">Back to your models</a>');
    await expectOneLine(await curlGet(bad), 403, 'FORBIDDEN');
    // The untouched link still serves: the refusal was the edit.
    expect((await fetch(link.url, { method: 'HEAD' })).status).toBe(200);
  });
});
