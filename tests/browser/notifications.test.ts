/**
 * Issue 14, items 2, 4 and 5 in a real browser against the real service: 25 notifications, of which the bell
 * lists the latest 10 and links to the history page, which pages through all 25; "Mark all read" brings the badge
 * to zero (it stuck at 11 when only the listed 10 were marked). Then the everyday details: each page its own
 * title, a date in the browser's time zone with its exact time on hover, money and sizes with thousands
 * separators, "Not rated" once, the score's explanation on the model and share pages, and a loss chart whose
 * legend shows the last point instead of dashes.
 * Needs web/dist (`bun run build:web`; `bun run test` builds it first).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import { modelArtifacts } from '../../db/schema/index.ts';
import { notify } from '../../server/notifications/service.ts';
import { browserPages, launchChromium, SKIP_BROWSER_TESTS } from '../helpers/browser.ts';
import { insertArtifact, personalWorkspaceOf } from '../helpers/factories.ts';
import { client, newUser, startTestService, type TestService } from '../helpers/service.ts';

let svc: TestService;
let browser: Browser;
let pages: ReturnType<typeof browserPages>;
let user: Awaited<ReturnType<typeof newUser>>;
let workspaceId = '';

/** One `ingest.failed` notification, written as a worker writes it (its own transaction). */
const sendFailure = (n: number) =>
  svc.deps.database.db.transaction((tx) =>
    notify(svc.deps, tx, { kind: 'ingest.failed', workspaceId, jobId: crypto.randomUUID(), jobName: `run-${n}`, error: `reason ${n}` }),
  );

const badge = (page: Page) => page.getByTestId('bell-count');
/** Waits until the bell's badge reads `n` (0: no badge at all). */
async function badgeReads(page: Page, n: number) {
  if (n === 0) await badge(page).waitFor({ state: 'detached' });
  else await page.waitForFunction((want) => document.querySelector('[data-testid="bell-count"]')?.textContent === want, String(n));
}
const titleIs = (page: Page, title: string) => page.waitForFunction((t) => document.title === t, title);

describe.skipIf(SKIP_BROWSER_TESTS)('notifications and everyday details (browser)', () => {
  beforeAll(async () => {
    [svc, browser] = await Promise.all([startTestService({ label: 'browser-notifications', webDist: 'web/dist' }), launchChromium()]);
    pages = browserPages(browser, svc.url);
    user = await newUser(svc, 'bell');
    workspaceId = await personalWorkspaceOf(svc.deps, user.userId);
  }, 60_000);

  afterAll(async () => {
    await pages?.close();
    await browser?.close();
    await svc?.stop();
  });

  test('25 notifications: the bell lists 10 and links to the history, which pages through all 25; Mark all read empties the badge', async () => {
    for (let i = 1; i <= 25; i++) await sendFailure(i);
    const page = await pages.open(user.cookie);
    await page.goto('/models');
    await badgeReads(page, 25);

    // The bell: the latest 10, newest first, and a way to the rest.
    await page.getByRole('button', { name: /^Notifications/ }).click();
    const panel = page.locator('#bell-panel');
    await panel.locator('li').nth(9).waitFor();
    expect(await panel.locator('li .bell-title').allTextContents()).toEqual(
      Array.from({ length: 10 }, (_, i) => `Your model run-${25 - i} could not be delivered`),
    );
    // Opening it marks the 10 it shows read; the other 15 stay unread, and the count says so (the server's, not the list's).
    await badgeReads(page, 15);
    const all = panel.getByTestId('bell-all');
    expect(await all.getAttribute('href')).toBe('/notifications');
    await all.click();

    // The history: 20 a page, then the older ones, all 25 in order.
    await page.waitForURL((u) => u.pathname === '/notifications');
    await page.getByRole('heading', { level: 1, name: 'Notifications' }).waitFor();
    await titleIs(page, 'Notifications · LoRA Models');
    const rows = page.getByTestId('notification');
    await rows.nth(19).waitFor();
    expect(await rows.count()).toBe(20);
    expect(await page.getByTestId('notifications-unread').textContent()).toBe('15 unread.');
    await page.getByRole('button', { name: 'Show older' }).click();
    await page.getByTestId('notifications-end').waitFor();
    expect(await page.getByTestId('notifications-end').textContent()).toBe('That is all 25.');
    expect(await rows.locator('.notification-link').allTextContents()).toEqual(
      Array.from({ length: 25 }, (_, i) => `${i >= 10 ? 'Unread: ' : ''}Your model run-${25 - i} could not be delivered`),
    );
    expect(await page.getByRole('button', { name: 'Show older' }).count()).toBe(0);

    // The bell's "Mark all read" marks all 25, not the 10 it lists: the badge goes, and so does every unread mark here.
    await page.getByRole('button', { name: /^Notifications/ }).click();
    await panel.getByRole('button', { name: 'Mark all read' }).click();
    await badgeReads(page, 0);
    await page.waitForFunction(() => document.querySelectorAll('.notification-item.is-unread').length === 0);
    expect(await page.getByTestId('notifications-unread').textContent()).toBe('All read.');
    expect((await user.api.notifications.list.query({})).unreadCount).toBe(0);
    await page.keyboard.press('Escape');

    // New ones arrive live; the page's own "Mark all read" clears them too.
    for (let i = 26; i <= 28; i++) await sendFailure(i);
    await badgeReads(page, 3);
    await page.waitForFunction(() => document.querySelector('[data-testid="notifications-unread"]')?.textContent === '3 unread.');
    expect(await rows.first().textContent()).toContain('run-28');
    await page.getByRole('main').getByRole('button', { name: 'Mark all read' }).click();
    await badgeReads(page, 0);
    await page.waitForFunction(() => document.querySelector('[data-testid="notifications-unread"]')?.textContent === 'All read.');
    // Each one's date reads in the browser's zone, with the exact time on hover.
    const when = rows.first().locator('time');
    expect(await when.getAttribute('title')).toMatch(/^\w+day, \w+ \d{1,2}, \d{4} at \d{1,2}:\d{2}:\d{2}\s[AP]M /);
  }, 90_000);

  describe('the model and share pages', () => {
    let supportBot = '';
    let unrated = '';
    let shareToken = '';
    const EXPLANATION = 'Loss fell 62 %, 2.5 → 0.95 (> 50 %: 5 stars); validation − training = 0.7 > 0.5: overfit, −1 → 4 stars.';

    beforeAll(async () => {
      // 2021-03-04 05:06:07 UTC: 10:36:07 in Kolkata (UTC+5:30), the browser's zone below. Another year: the date shows it.
      const createdAtMicros = BigInt(Date.UTC(2021, 2, 4, 5, 6, 7)) * 1000n;
      const bot = await insertArtifact(svc.deps, user.userId, { name: 'support-bot', createdAtMicros, totalCost: 12345.6 });
      supportBot = bot.id;
      await svc.deps.database.db
        .update(modelArtifacts)
        .set({
          qualityScore: 4,
          convergence: 'overfit',
          lossReductionPct: 62,
          initialLoss: 2.5,
          finalTrainingLoss: 0.95,
          finalValidationLoss: 1.65,
          overfitGap: 0.7,
          perplexity: Math.exp(1.65),
          // 1.5 PB: "1,364 TB".
          totalBytes: 1.5e15,
          // Validation is not reported at the last step: the legend shows its last reported value.
          lossCurve: [
            { step: 0, trainingLoss: 2.5, validationLoss: null },
            { step: 100, trainingLoss: 1.8, validationLoss: 1.5 },
            { step: 200, trainingLoss: 1.2, validationLoss: 1.65 },
            { step: 300, trainingLoss: 0.95, validationLoss: null },
          ],
        })
        .where(eq(modelArtifacts.id, supportBot));
      const fresh = await insertArtifact(svc.deps, user.userId, { name: 'fresh-run', qualityScore: null, convergence: null });
      unrated = fresh.id;
      await svc.deps.database.db
        .update(modelArtifacts)
        .set({
          lossReductionPct: null,
          finalValidationLoss: null,
          overfitGap: null,
          perplexity: null,
          lossCurve: [{ step: 1, trainingLoss: 2.4, validationLoss: null }],
        })
        .where(eq(modelArtifacts.id, unrated));
      shareToken = (await client(svc.url, { cookie: user.cookie }).models.share.mutate({ modelId: supportBot })).token;
    });

    test('each page has its own title', async () => {
      const page = await pages.open(user.cookie);
      const seen = new Set<string>();
      for (const [path, heading, title] of [
        ['/models', 'Models', 'Models'],
        ['/models?view=trash', 'Trash', 'Trash'],
        [`/models/${supportBot}`, 'support-bot', 'support-bot'],
        ['/jobs', 'Training jobs', 'Training jobs'],
        ['/tokens', 'API tokens', 'API tokens'],
        ['/members', 'Members', 'Members'],
        ['/webhooks', 'Webhooks', 'Webhooks'],
        ['/usage', 'Storage usage', 'Storage usage'],
        [`/compare?ids=${supportBot},${unrated}`, 'Compare models', 'Compare models'],
        ['/notifications', 'Notifications', 'Notifications'],
        ['/no-such-page', 'Page not found', 'Page not found'],
      ] as const) {
        await page.goto(path);
        await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
        await titleIs(page, `${title} · LoRA Models`);
        seen.add(title);
      }
      // In-app navigation changes it too (no reload): back to the catalogue, then a model.
      await page.getByRole('link', { name: 'Models', exact: true }).first().click();
      await titleIs(page, 'Models · LoRA Models');
      await page.getByRole('link', { name: 'fresh-run' }).click();
      await titleIs(page, 'fresh-run · LoRA Models');

      const guest = await pages.open();
      for (const [path, title] of [
        ['/sign-in', 'Sign in'],
        ['/sign-up', 'Create your account'],
        [`/s/${shareToken}`, 'support-bot (shared)'],
      ] as const) {
        await guest.goto(path);
        await titleIs(guest, `${title} · LoRA Models`);
        seen.add(title);
      }
      expect(seen.size).toBe(14);
    }, 60_000);

    test('a date in the browser zone with its exact time on hover; money and sizes with separators; "Not rated" once', async () => {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: svc.url, timezoneId: 'Asia/Kolkata', locale: 'en-US' });
      try {
        await ctx.addCookies(
          user.cookie.split('; ').map((kv) => ({ name: kv.slice(0, kv.indexOf('=')), value: kv.slice(kv.indexOf('=') + 1), url: svc.url })),
        );
        const page = await ctx.newPage();
        await page.goto('/models');
        const card = page.getByTestId('model-card').filter({ hasText: 'support-bot' });
        const created = card.locator('time');
        await created.waitFor();
        expect(await created.getAttribute('datetime')).toBe('2021-03-04T05:06:07.000Z');
        // Shown with the time, in Kolkata; the exact time, to the second and with the zone, is its title (the hover text).
        expect(await created.textContent()).toMatch(/^Mar 4, 2021, 10:36\sAM$/);
        expect(await created.getAttribute('title')).toMatch(/^Thursday, March 4, 2021 at 10:36:07\sAM GMT\+5:30$/);
        await created.hover();
        expect(await created.evaluate((el) => getComputedStyle(el).cursor)).toBe('help');

        expect(await card.textContent()).toContain('$12,345.60');
        expect(await card.textContent()).toContain('1,364 TB');

        // An unrated model says so once on its card (not also in a badge), and once on its page.
        const freshCard = page.getByTestId('model-card').filter({ hasText: 'fresh-run' });
        expect(await freshCard.getByText('Not rated', { exact: true }).count()).toBe(1);
        await page.goto(`/models/${unrated}`);
        const explanation = page.getByTestId('quality-explanation');
        await explanation.waitFor();
        expect(await explanation.textContent()).toBe(
          'Fewer than two finite training losses were reported: too few points to judge convergence, so the run is not rated.',
        );
        await page.getByTestId('versions-panel').locator('tbody tr').first().waitFor();
        expect(await page.getByText('Not rated', { exact: true }).count()).toBe(1);
      } finally {
        await ctx.close();
      }
    }, 60_000);

    test('the model page explains the score by its rule, as the share page and the API do', async () => {
      const api = (await user.api.models.get.query({ modelId: supportBot })).quality.explanation;
      expect(api).toBe(EXPLANATION);
      const page = await pages.open(user.cookie);
      await page.goto(`/models/${supportBot}`);
      await page.getByTestId('quality-explanation').waitFor();
      expect(await page.getByTestId('quality-explanation').textContent()).toBe(EXPLANATION);

      const guest = await pages.open();
      await guest.goto(`/s/${shareToken}`);
      await guest.getByTestId('quality-explanation').waitFor();
      expect(await guest.getByTestId('quality-explanation').textContent()).toBe(EXPLANATION);
    }, 60_000);

    test("the loss chart's legend shows the last point's values, not dashes, whenever the cursor is off the plot", async () => {
      const page = await pages.open(user.cookie);
      await page.goto(`/models/${supportBot}`);
      const legend = page.locator('.u-legend').first();
      await legend.waitFor();
      const values = () => legend.locator('.u-series').evaluateAll((rows) => rows.map((r) => r.querySelector('.u-value')?.textContent ?? ''));
      // Step, training, validation (its last reported value, at step 200), best validation (1.5 at step 100).
      await page.waitForFunction(() => document.querySelector('.u-legend .u-value')?.textContent === '300');
      expect(await values()).toEqual(['300', '0.95', '1.65', '1.5']);

      // Over the plot it follows the cursor; off it, back to the last point.
      const over = page.locator('.u-over').first();
      const box = (await over.boundingBox())!;
      await page.mouse.move(box.x + 2, box.y + box.height / 2);
      await page.waitForFunction(() => document.querySelector('.u-legend .u-value')?.textContent === '0');
      expect((await values())[1]).toBe('2.5');
      await page.mouse.move(box.x + box.width / 2, box.y + box.height + 200);
      await page.waitForFunction(() => document.querySelector('.u-legend .u-value')?.textContent === '300');
      expect(await values()).toEqual(['300', '0.95', '1.65', '1.5']);
    }, 60_000);
  });

  test('no page threw or was blocked by the Content-Security-Policy', () => {
    expect(pages.problems).toEqual([]);
  });
});
