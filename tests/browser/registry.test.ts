/**
 * The registry in a real browser (chromium through playwright-core) against the real service: three models
 * of one family (one real ingest with checkpoints, two inserted with their own loss curves), compared from
 * the catalogue's checkboxes; a description and tags edited in place; an alias set, moved and rolled back;
 * checkpoints promoted; a model deleted to the trash and restored; the usage page and its checkpoint
 * setting; and the catalogue and compare pages on a 375 px phone.
 * Needs web/dist (`bun run build:web`; `bun run test` builds it first).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { LossPoint } from '../../server/vocabulary.ts';
import { formatBytes } from '../../web/src/lib/format.ts';
import { insertArtifact } from '../helpers/factories.ts';
import { browserPages, expectNoHorizontalOverflow, launchChromium, SHOTS, SKIP_BROWSER_TESTS } from '../helpers/browser.ts';
import { type client, newUser, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';

const FAMILY = 'support-bot';

type Api = ReturnType<typeof client>;

let svc: TestService;
let browser: Browser;
let pages: ReturnType<typeof browserPages>;

let user: { cookie: string; userId: string };
let api: Api;
/** The family's three models, v1 (the real ingest) to v3. */
const models: { id: string; name: string; version: number }[] = [];

/** A loss curve logged every `every` steps (runs log at different steps: the chart aligns them). */
function curve(every: number, steps: number, start: number, end: number): LossPoint[] {
  const points: LossPoint[] = [];
  for (let step = every; step <= steps; step += every) {
    const t = step / steps;
    points.push({
      step,
      trainingLoss: start + (end - start) * t,
      validationLoss: step % (every * 4) === 0 ? start + (end - start) * t + 0.05 : null,
    });
  }
  return points;
}

const card = (page: Page, id: string) => page.locator(`[data-testid="model-card"][data-model-id="${id}"]`);

describe.skipIf(SKIP_BROWSER_TESTS)('registry (browser)', () => {
  beforeAll(async () => {
    [svc, browser] = await Promise.all([startTestService({ label: 'browser-registry', webDist: 'web/dist' }), launchChromium()]);
    pages = browserPages(browser, svc.url);

    const u = await newUser(svc, 'registry');
    user = u;
    api = u.api;
    // v1: a real delivery, with checkpoints ranked by validation loss (an overfitting run: the best is not the last).
    const run = await runTrainingJob(svc, api, {
      name: 'support-bot run 1',
      family: FAMILY,
      steps: 300,
      overfit: true,
      lora: { layers: 2, hidden: 64, checkpoints: [100, 200, 300] },
    });
    const job = await waitForIngest(api, run.jobId);
    expect(job.ingestStatus).toBe('ready');
    const first = await api.models.get.query({ modelId: job.artifactId! });
    expect(first.ref).toBe(`${FAMILY}@v1`);
    models.push({ id: first.id, name: first.name, version: first.version });
    // v2 and v3: inserted, each logging at its own steps.
    for (const [n, every] of [
      [2, 25],
      [3, 40],
    ] as const) {
      const a = await insertArtifact(svc.deps, u.userId, {
        name: `support-bot-v${n}`,
        family: FAMILY,
        qualityScore: n + 1,
        lossCurve: curve(every, 400, 2.5, 0.6 + n * 0.1),
      });
      expect(a.version).toBe(n);
      models.push({ id: a.id, name: a.name, version: a.version });
    }
  }, 120_000);

  afterAll(async () => {
    await pages?.close();
    await browser?.close();
    await svc?.stop();
  });

  test('two models selected in the catalogue open the compare page: names, one chart, a table of differences', async () => {
    const [v1, v2] = [models[0]!, models[1]!];
    const page = await pages.open(user.cookie);
    await page.goto('/models');
    await card(page, v1.id).waitFor();
    expect(await page.getByTestId('model-card').count()).toBe(3);
    expect(await card(page, v1.id).getByTestId('model-ref').textContent()).toBe(`${FAMILY}@v1`);

    await page.getByRole('checkbox', { name: `Select ${v1.name}` }).check();
    const compare = page.getByTestId('selection-bar').getByRole('button', { name: 'Compare' });
    expect(await compare.isDisabled()).toBe(true);
    await page.getByRole('checkbox', { name: `Select ${v2.name}` }).check();
    expect(await page.getByTestId('selection-bar').textContent()).toContain('2 models selected');
    await compare.click();
    await page.waitForURL((u) => u.pathname === '/compare' && u.searchParams.get('ids') === `${v1.id},${v2.id}`);

    const heads = page.getByTestId('compare-head');
    await heads.first().waitFor();
    expect(await heads.evaluateAll((els) => els.map((e) => e.getAttribute('data-model-id')))).toEqual([v1.id, v2.id]);
    await heads.filter({ hasText: v1.name }).getByText(`${FAMILY}@v1`).waitFor();
    await heads.filter({ hasText: v2.name }).getByText(`${FAMILY}@v2`).waitFor();
    await page.locator('.uplot canvas').first().waitFor();
    expect(await page.locator('.uplot').count()).toBe(1);
    const table = page.getByTestId('compare-table');
    expect(await table.getByTestId('compare-row').filter({ hasText: 'Final validation loss' }).count()).toBe(1);
    // The real adapter against none: the adapter rows differ. The hyperparameters are the same until all are asked for.
    const diff = table.getByTestId('diff-row');
    await diff.filter({ hasText: 'baseModel' }).waitFor();
    const differing = await diff.count();
    expect(await diff.filter({ hasText: 'learningRate' }).count()).toBe(0);
    await page.getByLabel('Show all hyperparameters').check();
    await page.waitForURL((u) => u.searchParams.get('all') === '1');
    await diff.filter({ hasText: 'learningRate' }).waitFor();
    expect(await diff.count()).toBeGreaterThan(differing);
    await page.screenshot({ path: path.join(SHOTS, 'compare-1280.png'), fullPage: true });
  }, 60_000);

  test('a description and tags are edited in place, refused input is explained, and a tag filters the catalogue', async () => {
    const v1 = models[0]!;
    const page = await pages.open(user.cookie);
    await page.goto(`/models/${v1.id}`);
    await page.getByRole('heading', { level: 1, name: v1.name }).waitFor();

    await page.getByRole('button', { name: 'Edit description' }).click();
    const description = page.getByLabel('Description', { exact: true });
    await description.fill('Answers support tickets in English.');
    await description.press('Enter');
    await page.getByTestId('model-description').getByText('Answers support tickets in English.').waitFor();
    await page.reload();
    await page.getByTestId('model-description').getByText('Answers support tickets in English.').waitFor();
    expect((await api.models.get.query({ modelId: v1.id })).description).toBe('Answers support tickets in English.');

    // A tag with a space: the server's reason under the field, which stays open; Escape leaves the tags as they were.
    await page.getByRole('button', { name: 'Edit tags' }).click();
    await page.getByLabel('Tags', { exact: true }).fill('nlp, has space');
    await page.getByLabel('Tags', { exact: true }).press('Enter');
    await page.getByRole('alert').filter({ hasText: 'no spaces' }).waitFor();
    expect(await page.getByLabel('Tags', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await page.getByLabel('Tags', { exact: true }).press('Escape');
    await page.getByRole('button', { name: 'Edit tags' }).waitFor();
    expect((await api.models.get.query({ modelId: v1.id })).tags).toEqual([]);

    await page.getByRole('button', { name: 'Edit tags' }).click();
    await page.getByLabel('Tags', { exact: true }).fill('NLP, prod-ready');
    await page.getByLabel('Tags', { exact: true }).blur();
    await page.getByRole('list', { name: 'Tags' }).getByText('prod-ready').waitFor();
    expect((await api.models.get.query({ modelId: v1.id })).tags).toEqual(['nlp', 'prod-ready']);

    // The tag on the card filters the catalogue, and the URL keeps the filter.
    await page.goto('/models');
    await card(page, v1.id).getByRole('button', { name: 'Filter by tag nlp' }).click();
    await page.waitForURL((u) => u.searchParams.get('tags') === 'nlp');
    await page.getByTestId('model-total').getByText('1 model').waitFor();
    expect(await page.getByTestId('model-card').count()).toBe(1);
    await page.reload();
    await page.getByTestId('tag-filter').getByRole('button', { name: 'Remove tag filter nlp' }).click();
    await page.getByTestId('model-total').getByText('3 models').waitFor();
  }, 60_000);

  test('an alias is set, moved to another version and rolled back, with badges and a history', async () => {
    const [v1, v2] = [models[0]!, models[1]!];
    const page = await pages.open(user.cookie);
    await page.goto(`/models/${v1.id}`);
    const panel = page.getByTestId('versions-panel');
    const row = (v: number) => panel.locator(`[data-testid="version-row"][data-version="${v}"]`);
    await row(3).waitFor();
    expect(await row(1).getAttribute('aria-current')).toBe('true');

    // Looks like a version: refused, with the reason.
    await panel.getByLabel('Alias', { exact: true }).fill('v3');
    await panel.getByRole('button', { name: 'Set alias' }).click();
    await panel.getByRole('alert').filter({ hasText: 'version' }).waitFor();

    await panel.getByLabel('Alias', { exact: true }).fill('production');
    await panel.getByRole('button', { name: 'Set alias' }).click();
    await row(1).getByTestId('alias-badge').filter({ hasText: 'production' }).waitFor();
    await page.getByTestId('alias-event').filter({ hasText: 'production' }).first().waitFor();

    // Moved to v2 from this page: the badge goes with it and the history names both versions.
    await panel.getByLabel('Alias', { exact: true }).fill('production');
    await panel.getByLabel('Version', { exact: true }).selectOption(v2.id);
    await panel.getByRole('button', { name: 'Set alias' }).click();
    await row(2).getByTestId('alias-badge').filter({ hasText: 'production' }).waitFor();
    expect(await row(1).getByTestId('alias-badge').count()).toBe(0);
    const latest = page.getByTestId('alias-event').first();
    await latest.getByText('from v1 to v2').waitFor();
    expect((await api.models.resolve.query({ family: FAMILY, alias: 'production' })).id).toBe(v2.id);

    await latest.getByRole('button', { name: 'Roll back production to v1' }).click();
    await row(1).getByTestId('alias-badge').filter({ hasText: 'production' }).waitFor();
    await page.getByTestId('alias-event').first().getByText('from v2 to v1').waitFor();
    expect((await api.models.resolve.query({ family: FAMILY, alias: 'production' })).id).toBe(v1.id);
    expect(await page.getByTestId('alias-event').count()).toBe(3);

    // Removed with its badge's ×: gone from the row, and the history says so.
    await row(1).getByRole('button', { name: 'Remove alias production from v1' }).click();
    await row(1).getByTestId('alias-badge').waitFor({ state: 'detached' });
    await page.getByTestId('alias-event').first().getByText('removed production from v1').waitFor();
    await expect(api.models.resolve.query({ family: FAMILY, alias: 'production' })).rejects.toThrow();
    await page.getByTestId('alias-event').first().getByRole('button', { name: 'Roll back production to v1' }).click();
    await row(1).getByTestId('alias-badge').filter({ hasText: 'production' }).waitFor();
    await page.screenshot({ path: path.join(SHOTS, 'model-registry-1280.png'), fullPage: true });
  }, 60_000);

  test('the recommended checkpoint is explained and promoted, the final adapter used again, and the rest pruned', async () => {
    const v1 = models[0]!;
    const model = await api.models.get.query({ modelId: v1.id });
    const recommended = model.checkpoints.recommended!;
    expect(recommended).not.toBeNull();
    const page = await pages.open(user.cookie);
    await page.goto(`/models/${v1.id}`);
    const panel = page.getByTestId('checkpoints-panel');
    await panel.getByTestId('recommended').getByText(recommended.name).waitFor();
    expect(await panel.getByTestId('recommended').textContent()).toContain(recommended.reason);
    expect(await panel.getByTestId('checkpoint-row').count()).toBe(3);

    await panel.getByRole('button', { name: `Promote ${recommended.name} to main adapter` }).click();
    await panel.locator(`[data-checkpoint="${recommended.name}"]`).getByText('Main adapter').waitFor();
    expect((await api.models.get.query({ modelId: v1.id })).checkpoints.main).toBe(recommended.name);
    await panel.getByRole('button', { name: 'Use final adapter' }).click();
    await panel.getByTestId('main-adapter').getByText("the run's final adapter").waitFor();
    expect((await api.models.get.query({ modelId: v1.id })).checkpoints.main).toBeNull();

    // Prune… keeping the best: the other two go, and the bytes they took are shown as freed.
    const others = model.checkpoints.items.filter((c) => c.name !== recommended.name);
    expect(await panel.getByTestId('pruned-bytes').textContent()).toBe('Freed by pruning so far: 0 B.');
    await panel.getByRole('button', { name: 'Prune…' }).click();
    await panel.getByLabel('The best checkpoint').check();
    await panel.getByRole('button', { name: 'Prune', exact: true }).click();
    await panel.getByRole('button', { name: 'Yes, delete them' }).click();
    await panel
      .getByTestId('prune-result')
      .getByText(`Pruned ${others.map((c) => c.name).join(', ')}`)
      .waitFor();
    await panel.locator('[data-testid="checkpoint-row"]').filter({ hasText: 'Pruned' }).nth(1).waitFor();
    const after = await api.models.get.query({ modelId: v1.id });
    expect(after.checkpoints.prunedBytes).toBe(others.reduce((a, c) => a + c.bytes, 0));
    expect(await panel.getByTestId('pruned-bytes').textContent()).toBe(`Freed by pruning so far: ${formatBytes(after.checkpoints.prunedBytes)}.`);
  }, 60_000);

  test('a model deleted from the catalogue or its page is in the trash, and comes back with Undo or Restore', async () => {
    const v3 = models[2]!;
    const page = await pages.open(user.cookie);
    await page.goto('/models');
    await card(page, v3.id).waitFor();

    const deleteSelected = async () => {
      await page.getByRole('checkbox', { name: `Select ${v3.name}` }).check();
      await page.getByTestId('selection-bar').getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('button', { name: `Move ${v3.name} to the trash` }).click();
      await page.getByTestId('trashed-notice').getByText(`${v3.name} moved to the trash.`).waitFor();
      await card(page, v3.id).waitFor({ state: 'detached' });
    };

    await deleteSelected();
    await page.getByTestId('trashed-notice').getByRole('button', { name: 'Undo' }).click();
    await page.getByTestId('trashed-notice').getByText(`${v3.name} restored.`).waitFor();
    await card(page, v3.id).waitFor();

    await deleteSelected();
    expect((await api.models.list.query({})).models.map((m) => m.id)).not.toContain(v3.id);
    await page.getByRole('link', { name: 'Trash', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('view') === 'trash');
    const trashed = page.locator(`[data-testid="trash-row"][data-model-id="${v3.id}"]`);
    await trashed.getByText('deleted', { exact: false }).waitFor();
    // The owner may purge: the button is there (not pressed).
    await trashed.getByRole('button', { name: `Delete ${v3.name} forever` }).waitFor();
    await trashed.getByRole('button', { name: `Restore ${v3.name}` }).click();
    await trashed.waitFor({ state: 'detached' });
    await page.getByRole('link', { name: 'Catalogue', exact: true }).click();
    await card(page, v3.id).waitFor();
    expect((await api.models.list.query({})).models.map((m) => m.id)).toContain(v3.id);

    // From the model's own page: Move to trash lands on the catalogue with Undo; a reload does not bring the notice back.
    await page.goto(`/models/${v3.id}`);
    await page.getByRole('button', { name: 'Move to trash' }).click();
    await page.getByRole('button', { name: `Yes, move ${v3.name} to the trash` }).click();
    await page.waitForURL((u) => u.pathname === '/models');
    await page.getByTestId('trashed-notice').getByText(`${v3.name} moved to the trash.`).waitFor();
    expect(await card(page, v3.id).count()).toBe(0);
    await page.getByTestId('trashed-notice').getByRole('button', { name: 'Undo' }).click();
    await card(page, v3.id).waitFor();
    await page.reload();
    await card(page, v3.id).waitFor();
    expect(await page.getByTestId('trashed-notice').count()).toBe(0);
  }, 60_000);

  test('the usage page shows the total, by family and by model, and saves which checkpoints to keep', async () => {
    const usage = await api.workspaces.usage.query({});
    expect(usage.totalBytes).toBeGreaterThan(0);
    const page = await pages.open(user.cookie);
    await page.goto('/models');
    await page.getByRole('link', { name: 'Usage', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/usage');
    const total = page.getByTestId('usage-total');
    await total.waitFor();
    expect(await total.textContent()).toMatch(/^\d+(\.\d)? (B|KB|MB|GB)/);
    expect(await total.textContent()).not.toStartWith('0 B');
    await page.getByTestId('usage-family').filter({ hasText: FAMILY }).waitFor();
    await page.getByTestId('usage-model').getByRole('link', { name: models[0]!.name }).waitFor();

    await page.getByLabel('The best and the final').check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('keep-saved').getByText('the best and the final checkpoints').waitFor();
    const me = (await api.workspaces.list.query()).find((w) => w.personal)!;
    expect((await api.workspaces.get.query({ workspaceId: me.id })).settings.keepCheckpoints).toBe('best+final');
    await page.screenshot({ path: path.join(SHOTS, 'usage-1280.png'), fullPage: true });
  }, 60_000);

  test('the catalogue, the compare page, a model page and the usage page fit a 375 px phone', async () => {
    const page = await pages.open(user.cookie, 375);
    const ids = `${models[0]!.id},${models[1]!.id},${models[2]!.id}`;
    await page.goto('/models');
    await card(page, models[0]!.id).waitFor();
    // With a selection, its bar too.
    const shown = await page.getByTestId('model-card').count();
    await page.getByRole('checkbox', { name: 'Select all on this page' }).check();
    await page.getByTestId('selection-bar').getByText(`${shown} models selected`).waitFor();
    await expectNoHorizontalOverflow(page);
    await page.screenshot({ path: path.join(SHOTS, 'catalogue-select-375.png'), fullPage: true });

    await page.goto(`/compare?ids=${ids}`);
    await page.locator('.uplot canvas').first().waitFor();
    await page.getByTestId('compare-table').waitFor();
    await expectNoHorizontalOverflow(page);
    await page.screenshot({ path: path.join(SHOTS, 'compare-375.png'), fullPage: true });

    for (const url of [`/models/${models[0]!.id}`, '/usage', '/models?view=trash']) {
      await page.goto(url);
      await page.getByRole('heading', { level: 1 }).waitFor();
      await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
      await expectNoHorizontalOverflow(page);
    }
  }, 60_000);

  test('no page threw or was blocked by the Content-Security-Policy', () => {
    expect(pages.problems).toEqual([]);
  });
});
