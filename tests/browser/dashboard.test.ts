/**
 * The dashboard in a real browser (Debian's chromium through playwright-core) against the real
 * service: sign-up, a delivered model's card and page, a download checked by SHA-256, sorting and
 * paging across 30 models, isolation between users, and the notification bell.
 * Needs web/dist (`bun run build:web`; `bun run test` builds it first).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, SHOTS, SKIP_BROWSER_TESTS } from '../helpers/browser.ts';
import { onTestFailure } from '../helpers/log-guard.ts';
import { client, signUp, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';

const DOCS = path.resolve('web/screenshots');
type Api = ReturnType<typeof client>;

let svc: TestService;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let api: Api;
let firstModelId = '';
const cspViolations: string[] = [];

async function cookieHeader(context: BrowserContext): Promise<string> {
  return (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
}

async function shot(p: Page, name: string, width: number, docs = false, fullPage = false) {
  await p.setViewportSize({ width, height: 900 });
  await p.evaluate(() => window.scrollTo(0, 0));
  await p.waitForTimeout(150); // let the chart's ResizeObserver settle
  const file = path.join(SHOTS, `${name}-${width}.png`);
  await p.screenshot({ path: file, fullPage });
  // The committed pair (shown in the README) changes only when asked: UPDATE_SCREENSHOTS=1 bun run test
  if (docs && process.env.UPDATE_SCREENSHOTS === '1') fs.copyFileSync(file, path.join(DOCS, `${name}-${width}.png`));
}

const cardIds = (p: Page) => p.locator('[data-testid="model-card"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-model-id')!));

describe.skipIf(SKIP_BROWSER_TESTS)('dashboard (browser)', () => {
  beforeAll(async () => {
    [svc, browser] = await Promise.all([
      startTestService({ label: 'browser', webDist: 'web/dist', env: { INGEST_CONCURRENCY: '4' } }),
      launchChromium(),
    ]);
    ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true, baseURL: svc.url });
    page = await ctx.newPage();
    page.setDefaultTimeout(15_000);
    // The server's Content-Security-Policy must not block anything the dashboard does (last test).
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    // What the page did, for a failed test's report: console lines, responses, failed requests, navigations.
    const events: string[] = [];
    const note = (line: string) => {
      events.push(`${new Date().toISOString()} ${line}`);
      if (events.length > 300) events.shift();
    };
    page.on('console', (m) => note(`console.${m.type()} ${m.text()}`));
    page.on('response', (r) => note(`${r.status()} ${r.request().method()} ${r.url()}`));
    page.on('requestfailed', (r) => note(`failed ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) note(`navigated ${f.url()}`);
    });
    onTestFailure(async ({ dir, stem }) => {
      fs.writeFileSync(path.join(dir, `${stem}.page-events.log`), `${events.splice(0).join('\n')}\n`);
      fs.writeFileSync(path.join(dir, `${stem}.html`), await page.content());
      await page.screenshot({ path: path.join(dir, `${stem}.png`), fullPage: true });
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await svc?.stop();
  });

  test('a guest is sent to sign in, signs up through the page and lands on an empty catalogue', async () => {
    await page.goto('/models?sort=quality');
    await page.waitForURL((u) => u.pathname === '/sign-in');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/models?sort=quality');

    // A wrong password is reported inline, on the page.
    await page.getByLabel('Email').fill('nobody@example.com');
    await page.getByLabel('Password').fill('wrong password 123');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBeTruthy();

    await page.getByRole('link', { name: 'Create one' }).click();
    await page.waitForURL((u) => u.pathname === '/sign-up');
    const email = `browser-${Math.random().toString(36).slice(2, 10)}@example.com`;
    await page.getByLabel('Name').fill('Browser Tester');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL((u) => u.pathname === '/models' && u.searchParams.get('sort') === 'quality');
    await page.getByRole('heading', { name: 'No models yet' }).waitFor();
    // The empty catalogue shows how a run starts (tests/browser/states.test.ts runs its script), not a link to a page that cannot.
    await page.getByRole('heading', { name: 'Start a training run' }).waitFor();
    await page.getByText(email).waitFor();

    // The page's own session drives the API from here: a token, as an integrator would make one.
    const { token } = await client(svc.url, { cookie: await cookieHeader(ctx) }).tokens.create.mutate({ name: 'browser-test' });
    api = client(svc.url, { token });
  }, 30_000);

  test('a delivered model raises the bell, shows as a card, opens, and downloads with the right SHA-256', async () => {
    const stream = page.waitForResponse((r) => r.url().endsWith('/api/events') && r.status() === 200);
    const listed = page.waitForResponse((r) => r.url().includes('notifications.list'));
    await page.goto('/models');
    await page.getByRole('heading', { name: 'No models yet' }).waitFor();
    expect(await page.getByTestId('bell-count').count()).toBe(0);
    await Promise.all([stream, listed]);

    // While the event stream is open nothing polls: over more than one of the bell's 5 s polling intervals, the
    // list is not asked again (absence needs a window; this is it). Then the delivery alone raises the bell.
    let asked = 0;
    const count = (r: { url(): string }) => {
      if (r.url().includes('notifications.list')) asked++;
    };
    page.on('request', count);
    await page.waitForTimeout(6_000);
    expect(asked).toBe(0);
    page.off('request', count);

    const run = await runTrainingJob(svc, api, { name: 'support-bot-v1', steps: 400 });
    const job = await waitForIngest(api, run.jobId);
    expect(job.ingestStatus).toBe('ready');
    firstModelId = job.artifactId!;
    const model = await api.models.get.query({ modelId: firstModelId });

    // No reload: the stream's notification event refreshes the bell, and its rise refreshes the catalogue.
    const badge = page.getByTestId('bell-count');
    await badge.waitFor({ timeout: 12_000 });
    expect(await badge.textContent()).toBe('1');
    const card = page.locator(`[data-testid="model-card"][data-model-id="${firstModelId}"]`);
    await card.waitFor();
    expect(await card.getByRole('link').textContent()).toBe('support-bot-v1');
    if (model.qualityScore) expect(await card.getByRole('img').getAttribute('aria-label')).toBe(`${model.qualityScore} out of 5 stars`);
    else await card.getByText('Not rated').first().waitFor();
    expect(await card.locator('[data-convergence]').getAttribute('data-convergence')).toBe(model.convergenceQuality!);
    expect(await card.textContent()).toContain(`$${model.totalCost!.toFixed(2)}`);
    expect(await page.getByTestId('model-total').textContent()).toBe('1 model');

    // Opening the bell marks its notification read; Escape closes it and gives focus back.
    const bell = page.getByRole('button', { name: /^Notifications/ });
    await bell.click();
    await page.getByRole('region', { name: 'Notifications' }).getByText('Your model support-bot-v1 is ready').waitFor();
    await badge.waitFor({ state: 'detached' });
    await page.keyboard.press('Escape');
    await page.getByRole('region', { name: 'Notifications' }).waitFor({ state: 'detached' });
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-controls'))).toBe('bell-panel');
    expect((await api.notifications.list.query({})).unreadCount).toBe(0);

    await card.getByRole('link').click();
    await page.waitForURL(`**/models/${firstModelId}`);
    await page.getByRole('heading', { level: 1, name: 'support-bot-v1' }).waitFor();
    await page.locator('.uplot canvas').first().waitFor();
    expect(await page.getByTestId('file-row').count()).toBe(model.files.length);

    // One file through the page's own button: the browser's download, hashed.
    const target = run.files.find((f) => f.path.endsWith('adapter_model.safetensors')) ?? run.files[0]!;
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: `Download ${target.path}` }).click()]);
    const bytes = fs.readFileSync((await download.path())!);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(target.sha256);
    await page.getByRole('status').filter({ hasText: 'started' }).waitFor();

    // "Download all": one click, and the zip of every file downloads.
    const [zip] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download all' }).click()]);
    expect(zip.suggestedFilename()).toMatch(/\.zip$/);
    const zipBytes = fs.readFileSync((await zip.path())!);
    expect(zipBytes.subarray(0, 2).toString()).toBe('PK');

    await shot(page, 'model-detail', 1280, true);
    await shot(page, 'model-detail', 390);
    await shot(page, 'model-detail-full', 1280, false, true);
    await page.setViewportSize({ width: 1280, height: 900 });
  }, 60_000);

  test('sorts by quality and pages through 30 models with no repeats', async () => {
    // 29 more runs in parallel batches; every fourth one overfits, so scores and badges differ.
    for (let i = 0; i < 29; i += 10) {
      await Promise.all(
        Array.from({ length: Math.min(10, 29 - i) }, async (_, j) => {
          const n = i + j;
          const run = await runTrainingJob(svc, api, {
            name: `sweep-${String(n + 1).padStart(2, '0')}`,
            steps: 120,
            overfit: n % 4 === 1,
            seed: n + 2,
          });
          const done = await waitForIngest(api, run.jobId, 60_000);
          expect(done.ingestStatus).toBe('ready');
        }),
      );
    }
    const expected = (await api.models.list.query({ sort: 'quality', limit: 100 })).models;
    expect(expected).toHaveLength(30);

    await page.goto('/models');
    await page.getByTestId('model-total').getByText('30 models').waitFor();
    await shot(page, 'models', 1280, true);
    await shot(page, 'models', 390);
    await page.setViewportSize({ width: 1280, height: 900 });

    await page.getByLabel('Sort by').selectOption('quality');
    await page.waitForURL((u) => u.searchParams.get('sort') === 'quality');
    const seen: string[] = [];
    for (const [p, from, to] of [
      [1, 0, 12],
      [2, 12, 24],
      [3, 24, 30],
    ] as const) {
      if (p > 1) {
        await page.getByRole('button', { name: 'Next' }).click();
        await page.waitForURL((u) => u.searchParams.get('page') === String(p));
      }
      await page.getByTestId('page-indicator').getByText(`Page ${p} of 3`).waitFor();
      await page.waitForFunction(() => document.querySelector('[data-testid="model-grid"]')?.getAttribute('aria-busy') === 'false');
      const ids = await cardIds(page);
      expect(ids).toEqual(expected.slice(from, to).map((m) => m.id));
      seen.push(...ids);
    }
    expect(new Set(seen).size).toBe(30);
    const scores = expected.map((m) => m.qualityScore ?? 0);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));

    // The view is in the URL: a reload keeps sort and page.
    await page.reload();
    await page.getByTestId('page-indicator').getByText('Page 3 of 3').waitFor();
    expect(await page.getByLabel('Sort by').inputValue()).toBe('quality');

    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.getByTestId('job-row').first().waitFor();
    expect(await page.getByTestId('job-row').count()).toBe(30);
    expect(await page.getByRole('link', { name: 'Open model' }).count()).toBe(30);
    await shot(page, 'jobs', 1280);
    await page.getByRole('link', { name: 'API tokens' }).click();
    await page.getByRole('heading', { name: 'API tokens', level: 1 }).waitFor();
    await page.getByTestId('token-row').first().waitFor();
    await shot(page, 'tokens', 1280);
  }, 120_000);

  test('an API token is shown once on creation and can be revoked', async () => {
    await page.goto('/tokens');
    await page.getByLabel('Name').fill('ci-runner');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = await page.getByTestId('new-token').textContent();
    expect(secret).toBeTruthy();
    const row = page.getByTestId('token-row').filter({ hasText: 'ci-runner' });
    await row.waitFor();
    expect(await row.textContent()).not.toContain(secret!);
    await row.getByRole('button', { name: 'Revoke ci-runner' }).click();
    await row.getByText(/^Revoked/).waitFor();
    const res = await fetch(`${svc.url}/trpc/tokens.list`, { headers: { authorization: `Bearer ${secret}` } });
    expect(res.status).toBe(401);
  }, 20_000);

  test("another user cannot open the first user's model by its URL", async () => {
    const other = await signUp(svc.url, `other-${Math.random().toString(36).slice(2, 10)}@example.com`);
    const ctx2 = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: svc.url });
    try {
      await ctx2.addCookies(
        other.cookie.split('; ').map((kv) => {
          const at = kv.indexOf('=');
          return { name: kv.slice(0, at), value: kv.slice(at + 1), url: svc.url };
        }),
      );
      const p2 = await ctx2.newPage();
      await p2.goto(`/models/${firstModelId}`);
      await p2.getByRole('heading', { name: 'Model not found' }).waitFor();
      expect(await p2.getByText('support-bot-v1').count()).toBe(0);
    } finally {
      await ctx2.close();
    }
  }, 30_000);

  test('the Content-Security-Policy blocked nothing on any page visited above', async () => {
    const res = await page.request.get('/models');
    expect(res.headers()['content-security-policy']).toContain("script-src 'self'");
    expect(cspViolations).toEqual([]);
  });
});
