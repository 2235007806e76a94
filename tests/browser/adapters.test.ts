/**
 * Runtime-ready adapters in a real browser (chromium through playwright-core) against the real service, with
 * models delivered by the real ingest in a team workspace: one that fits its base (Qwen2.5-0.5B, with
 * checkpoints), one that does not (hidden size 64), one never trained (every lora_B zero) and one with NaN weights. The catalogue
 * flags, the detail page's fit verdict, runtimes, quality explanation, per-layer chart and usage snippets, a
 * GGUF export asked for and downloaded, a viewer's read-only exports, the share page, and a 375 px phone.
 * Needs web/dist (`bun run build:web`; `bun run test` builds it first).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { randomWeights, type TensorSource, writeLoraOutput, writeSafetensors } from '../fixtures/lora.ts';
import { browserPages, expectNoHorizontalOverflow, launchChromium, SHOTS, SKIP_BROWSER_TESTS } from '../helpers/browser.ts';
import { client, signUp, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';

const PASSWORD = 'correct horse battery';
const TEAM = 'Adapter Lab';
const email = (who: string) => `${who}-${Math.random().toString(36).slice(2, 10)}@example.com`;

type Api = ReturnType<typeof client>;
type Model = Awaited<ReturnType<Api['models']['get']['query']>>;

let svc: TestService;
let browser: Browser;
let pages: ReturnType<typeof browserPages>;
let owner: { cookie: string; userId: string };
let ownerApi: Api;
let teamId: string;
/** The three delivered models, as models.get answers for them. */
let fits: Model;
let mismatch: Model;
let untrained: Model;
/** Layer 1's lora_B tensors are NaN: its update sizes are not finite. */
let nonFinite: Model;
/** No adapter_config.json (the base's config.json instead): it fits, but its export fails for want of lora_alpha. */
let noConfig: Model;

/** A delivered model of the team: a real training job, then the real ingest. */
async function deliver(teamApi: Api, name: string, options: Omit<Parameters<typeof runTrainingJob>[2] & object, 'name'> = {}) {
  const run = await runTrainingJob(svc, teamApi, { name, ...options });
  const job = await waitForIngest(teamApi, run.jobId);
  expect(job.ingestStatus).toBe('ready');
  return ownerApi.models.get.query({ modelId: job.artifactId! });
}

/**
 * An output of 2 layers of Qwen2.5-0.5B (hidden 896, q_proj and v_proj, rank 8) whose lora_B tensors are
 * filled by `fillB`; lora_A is random, as PEFT initialises it.
 */
async function writeOutputWithB(dir: string, fillB: (layer: number) => TensorSource['fill']) {
  await writeLoraOutput(dir, { layers: 2 });
  const tensors: TensorSource[] = [];
  for (let layer = 0; layer < 2; layer++) {
    for (const [module, out] of [
      ['q_proj', 896],
      ['v_proj', 128],
    ] as const) {
      const base = `base_model.model.model.layers.${layer}.self_attn.${module}`;
      tensors.push({ name: `${base}.lora_A.weight`, dtype: 'F32', shape: [8, 896], fill: randomWeights(`${base}:A`, 'F32', -6) });
      tensors.push({ name: `${base}.lora_B.weight`, dtype: 'F32', shape: [out, 8], fill: fillB(layer) });
    }
  }
  await writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors);
}
/** PEFT's initial state: every lora_B zero, so the adapter changes nothing. */
const zero: TensorSource['fill'] = (chunk) => chunk.fill(0);
/** All bits set: F32 NaN. */
const nan: TensorSource['fill'] = (chunk) => chunk.fill(0xff);

/** Qwen2.5-0.5B's config.json, as a training output may carry a copy of its base's. */
const QWEN_CONFIG = {
  _name_or_path: 'Qwen/Qwen2.5-0.5B',
  model_type: 'qwen2',
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  vocab_size: 151936,
};

const card = (page: Page, id: string) => page.locator(`[data-testid="model-card"][data-model-id="${id}"]`);

/** Opens a model's page and waits until it shows (the heading, no skeleton left). */
async function openModel(page: Page, model: Model) {
  await page.goto(`/models/${model.id}?ws=${teamId}`);
  await page.getByRole('heading', { level: 1, name: model.name }).waitFor();
}

describe.skipIf(SKIP_BROWSER_TESTS)('adapters (browser)', () => {
  beforeAll(async () => {
    [svc, browser] = await Promise.all([startTestService({ label: 'browser-adapters', webDist: 'web/dist' }), launchChromium()]);
    pages = browserPages(browser, svc.url);

    owner = await signUp(svc.url, email('owner'), PASSWORD, 'Ada Owner');
    ownerApi = client(svc.url, { cookie: owner.cookie });
    teamId = (await ownerApi.workspaces.create.mutate({ name: TEAM })).id;
    const { token } = await ownerApi.tokens.create.mutate({ name: 'team-ci', workspaceId: teamId });
    const teamApi = client(svc.url, { token });

    // A long name without a break point, as run names often are: it must shrink on a phone, not widen the page.
    fits = await deliver(teamApi, 'qwen-support-assistant-202611272033', { steps: 300, lora: { checkpoints: [100, 200] } });
    // Hidden size 64 instead of Qwen2.5-0.5B's 896: every lora tensor has the wrong width.
    mismatch = await deliver(teamApi, 'qwen-narrow', { steps: 300, lora: { hidden: 64 } });
    untrained = await deliver(teamApi, 'qwen-untrained', { steps: 300, writeOutput: (dir) => writeOutputWithB(dir, () => zero) });
    nonFinite = await deliver(teamApi, 'qwen-nan', {
      steps: 300,
      writeOutput: (dir) => writeOutputWithB(dir, (layer) => (layer === 1 ? nan : randomWeights(`B:${layer}`, 'F32', -10))),
    });

    // What the pages must show comes from the server's own verdicts; these make sure the seeds are what they claim.
    expect(fits.compatibility?.verdict).toBe('fits');
    expect(mismatch.compatibility?.verdict).toBe('mismatch');
    noConfig = await deliver(teamApi, 'qwen-no-config', {
      steps: 300,
      writeOutput: async (dir) => {
        await writeLoraOutput(dir, { layers: 2 });
        await rm(path.join(dir, 'adapter_config.json'));
        await Bun.write(path.join(dir, 'config.json'), JSON.stringify(QWEN_CONFIG));
      },
    });
    expect(untrained.untrained).toBe(true);
    expect(noConfig.compatibility?.verdict).toBe('fits');
    expect(nonFinite.weights?.modules.filter((m) => m.updateNorm === null).map((m) => m.layer)).toEqual([1, 1]);
  }, 120_000);

  afterAll(async () => {
    await pages?.close();
    await browser?.close();
    await svc?.stop();
  });

  test('the catalogue flags a model that does not fit its base and one that is untrained, in words', async () => {
    const page = await pages.open(owner.cookie);
    await page.goto(`/models?ws=${teamId}`);
    await card(page, fits.id).waitFor();

    expect(await card(page, mismatch.id).getByTestId('flag-mismatch').textContent()).toContain("Doesn't fit its base");
    expect(await card(page, mismatch.id).getByTestId('flag-untrained').count()).toBe(0);
    expect(await card(page, untrained.id).getByTestId('flag-untrained').textContent()).toContain('Untrained');
    expect(await card(page, untrained.id).getByTestId('flag-mismatch').count()).toBe(0);
    expect(await card(page, fits.id).locator('.card-flags').count()).toBe(0);
    await page.screenshot({ path: path.join(SHOTS, 'adapters-catalogue-1280.png'), fullPage: true });
  }, 60_000);

  test('a model that fits: verdict, base facts and their source, runtimes, explanation, per-layer chart and usage', async () => {
    const page = await pages.open(owner.cookie);
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await openModel(page, fits);

    expect(await page.getByTestId('quality-explanation').textContent()).toBe(fits.quality.explanation);
    expect(fits.quality.explanation.length).toBeGreaterThan(20);
    expect(await page.getByTestId('adapter-warnings').count()).toBe(0);

    const compat = page.getByTestId('compatibility-panel');
    expect(await compat.getByTestId('fit-verdict').textContent()).toBe('Fits its base');
    await compat.getByText('Qwen/Qwen2.5-0.5B').first().waitFor();
    const source = fits.compatibility!.base.facts!.source;
    expect(source).toStartWith('https://');
    expect(await compat.getByRole('link', { name: source }).getAttribute('href')).toBe(source);
    expect(await compat.getByTestId('mismatch-table').count()).toBe(0);

    const runtimes = compat.getByTestId('runtime');
    const expected = fits.compatibility!.runtimes;
    expect(expected.length).toBeGreaterThanOrEqual(4);
    expect(await runtimes.evaluateAll((els) => els.map((e) => e.getAttribute('data-runtime')))).toEqual(expected.map((r) => r.name));
    for (const r of expected) {
      const text = await compat.locator(`[data-testid="runtime"][data-runtime="${r.name}"]`).textContent();
      expect(text).toContain(r.ok ? '✓' : '✗');
      expect(text).toContain(r.reason);
    }

    // The chart: one bar per layer (24 layers, q_proj and v_proj each), the numbers in the table too.
    const weights = page.getByTestId('weights-panel');
    const layers = new Set(fits.weights!.modules.map((m) => m.layer)).size;
    expect(layers).toBe(24);
    const chart = weights.getByTestId('layer-chart');
    expect(await chart.locator('svg[role="img"] rect.bar').count()).toBe(layers);
    expect(await chart.locator('svg title').first().textContent()).toBe('Mean update size per layer');
    const heights = await chart.locator('svg rect.bar').evaluateAll((els) => els.map((e) => Number(e.getAttribute('height'))));
    expect(heights.every((h) => h > 0)).toBe(true);
    expect(await chart.getByTestId('layer-row').count()).toBe(layers);
    expect(await weights.getByTestId('weight-warning').count()).toBe(0);

    // Usage: every snippet the server made, each with its copy button; only the verified one says so.
    const snippets = page.getByTestId('usage-snippet');
    expect(await snippets.count()).toBe(fits.usage.length);
    for (const s of fits.usage) {
      const block = page.locator(`[data-testid="usage-snippet"][data-runtime="${s.runtime}"]`);
      expect(await block.locator('pre code').textContent()).toBe(s.code);
      const provenance = await block.locator('.snippet-source').textContent();
      if (s.verified) expect(provenance).toContain('Verified by our tests');
      else expect(provenance).toContain('not verified here');
      expect(await block.locator('.snippet-source a').getAttribute('href')).toBe(s.source);
    }
    expect(fits.usage.some((s) => s.verified)).toBe(true);
    const peft = fits.usage.find((s) => s.runtime === 'peft')!;
    const copy = page.locator('[data-testid="usage-snippet"][data-runtime="peft"]').getByRole('button', { name: `Copy ${peft.title} snippet` });
    await copy.click();
    await copy.getByText('Copied').waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(peft.code);
    await page.screenshot({ path: path.join(SHOTS, 'adapters-detail-1280.png'), fullPage: true });
    await compat.screenshot({ path: path.join(SHOTS, 'adapters-runs-on-1280.png') });
    await weights.screenshot({ path: path.join(SHOTS, 'adapters-weights-1280.png') });
    await page.getByTestId('usage-panel').screenshot({ path: path.join(SHOTS, 'adapters-usage-1280.png') });
  }, 60_000);

  test('a model that does not fit: the verdict, the first 10 mismatched tensors and how many more, and no runtime takes it', async () => {
    const page = await pages.open(owner.cookie);
    await openModel(page, mismatch);
    const c = mismatch.compatibility!;
    expect(c.mismatchCount).toBeGreaterThan(10);

    expect(await page.getByTestId('adapter-warnings').textContent()).toContain("Doesn't fit its base");
    const compat = page.getByTestId('compatibility-panel');
    expect(await compat.getByTestId('fit-verdict').textContent()).toBe("Doesn't fit its base");
    const rows = compat.getByTestId('mismatch-row');
    expect(await rows.count()).toBe(10);
    const first = c.mismatched[0]!;
    const cells = await rows.first().locator('td').allTextContents();
    expect(cells).toEqual([first.tensor, first.expected, first.got]);
    expect(await compat.getByTestId('mismatch-more').textContent()).toBe(`and ${c.mismatchCount - 10} more.`);
    const marks = await compat.getByTestId('runtime').evaluateAll((els) => els.map((e) => e.getAttribute('data-ok')));
    expect(marks.length).toBe(c.runtimes.length);
    expect(marks.every((ok) => ok === 'false')).toBe(true);
    await compat.screenshot({ path: path.join(SHOTS, 'adapters-mismatch-1280.png') });

    // The server refuses its export, and says why under the button.
    await page.getByRole('button', { name: 'Export GGUF' }).click();
    expect(await page.getByTestId('export-error').textContent()).toContain('does not fit');
    expect(await page.getByTestId('export-row').count()).toBe(0);
  }, 60_000);

  test('an untrained model says why its score is 1', async () => {
    const page = await pages.open(owner.cookie);
    await openModel(page, untrained);
    expect(untrained.qualityScore).toBe(1);
    const warning = page.locator('[data-testid="weight-warning"][data-code="untrained"]');
    expect(await warning.textContent()).toContain('quality score is 1');
    expect(await page.getByTestId('adapter-warnings').textContent()).toContain('Untrained');
    expect(await page.getByTestId('quality-explanation').textContent()).toBe(untrained.quality.explanation);
    // Every update is zero: bars of no height, still one per layer.
    expect(await page.locator('[data-testid="layer-chart"] svg rect.bar').count()).toBe(2);
    await page.getByTestId('weights-panel').screenshot({ path: path.join(SHOTS, 'adapters-untrained-1280.png') });
  }, 60_000);

  test('a layer whose update is not finite is marked in the chart and said in the table', async () => {
    const page = await pages.open(owner.cookie);
    await openModel(page, nonFinite);
    const weights = page.getByTestId('weights-panel');
    await weights.locator('[data-testid="weight-warning"][data-code="non_finite"]').waitFor();
    const chart = weights.getByTestId('layer-chart');
    // Layer 0 a bar, layer 1 the red marker.
    expect(await chart.locator('svg rect.bar:not(.bar-missing)').count()).toBe(1);
    expect(await chart.locator('svg rect.bar-missing').count()).toBe(1);
    expect(await chart.locator('svg desc').textContent()).toContain('1 with no finite value');
    expect(await chart.getByTestId('layer-row').nth(1).textContent()).toContain('not finite');
    await weights.screenshot({ path: path.join(SHOTS, 'adapters-non-finite-1280.png') });
  }, 60_000);

  test('a GGUF export is asked for, shows its progress, downloads when ready, and a viewer sees it without the button', async () => {
    const page = await pages.open(owner.cookie);
    await openModel(page, fits);
    const panel = page.getByTestId('exports-panel');
    await panel.getByText('No exports yet.').waitFor();
    // The checkpoint select lists the run's checkpoints; the default is the main adapter.
    const select = panel.getByLabel('Adapter');
    expect(await select.inputValue()).toBe('');
    expect(await select.locator('option').allTextContents()).toEqual(['Main adapter (final)', 'checkpoint-100', 'checkpoint-200']);

    await panel.getByRole('button', { name: 'Export GGUF' }).click();
    const row = panel.getByTestId('export-row');
    await row.first().waitFor();
    expect(await row.count()).toBe(1);
    // Ready without a reload: the page's event stream (GET /api/events) announces each status change.
    await panel.locator('[data-testid="export-row"][data-status="ready"]').waitFor({ timeout: 60_000 });
    const [exported] = await ownerApi.models.exports.query({ modelId: fits.id });
    expect(exported?.status).toBe('ready');
    expect(exported?.path).toEndWith('.gguf');
    expect(await row.textContent()).toContain(exported!.path!);

    // Nothing polls while the stream is live: over three of the exports panel's 2 s polling intervals the list is
    // asked at most once (the export's notification refreshes the bell, which refreshes the model's queries, and
    // that may land inside the window). Absence needs a window; this is it.
    let asked = 0;
    page.on('response', (r) => {
      if (r.url().includes('models.exports')) asked++;
    });
    await page.waitForTimeout(6_500);
    expect(asked).toBeLessThanOrEqual(1);

    // The download is the stored file, byte for byte.
    const stored = (await ownerApi.models.get.query({ modelId: fits.id })).files.find((f) => f.path === exported!.path)!;
    expect(stored.kind).toBe('export');
    const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('button', { name: `Download ${exported!.path}` }).click()]);
    const bytes = fs.readFileSync((await download.path())!);
    expect(bytes.subarray(0, 4).toString()).toBe('GGUF');
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(stored.sha256);
    // The new file is listed with its kind, and the page was refreshed without a reload.
    await page.locator(`[data-testid="file-row"][data-path="${exported!.path}"]`).getByText('GGUF export').waitFor();
    await panel.screenshot({ path: path.join(SHOTS, 'adapters-exports-1280.png') });

    // The bell says so, and its item leads to the model.
    await page.getByRole('button', { name: /^Notifications/ }).click();
    const item = page.locator('#bell-panel li').filter({ hasText: `The GGUF export of ${fits.name} is ready in ${TEAM}` });
    expect(await item.textContent()).toContain(exported!.path!);
    expect(await item.getByRole('link').getAttribute('href')).toBe(`/models/${fits.id}`);
    await page.locator('#bell-panel').screenshot({ path: path.join(SHOTS, 'adapters-bell-1280.png') });
    await page.keyboard.press('Escape');

    // A viewer of the team sees the list and downloads, but cannot ask for an export.
    const viewerEmail = email('viewer');
    const viewer = await signUp(svc.url, viewerEmail, PASSWORD, 'Vic Viewer');
    const invite = await ownerApi.workspaces.members.invite.mutate({ workspaceId: teamId, email: viewerEmail, role: 'viewer' });
    await client(svc.url, { cookie: viewer.cookie }).workspaces.members.accept.mutate({ token: invite.token });
    const viewerPage = await pages.open(viewer.cookie);
    await openModel(viewerPage, fits);
    const viewerPanel = viewerPage.getByTestId('exports-panel');
    await viewerPanel.locator('[data-testid="export-row"][data-status="ready"]').waitFor();
    expect(await viewerPanel.getByRole('button', { name: 'Export GGUF' }).count()).toBe(0);
    await viewerPanel.getByRole('button', { name: `Download ${exported!.path}` }).waitFor();
  }, 120_000);

  test('a failed export shows its reason, and Try again asks for it again', async () => {
    const page = await pages.open(owner.cookie);
    await openModel(page, noConfig);
    const panel = page.getByTestId('exports-panel');
    await panel.getByText('No exports yet.').waitFor();
    // No checkpoints: no select, the button alone.
    expect(await panel.getByLabel('Adapter').count()).toBe(0);
    await panel.getByRole('button', { name: 'Export GGUF' }).click();
    const failed = panel.locator('[data-testid="export-row"][data-status="failed"]');
    await failed.waitFor({ timeout: 60_000 });
    const [first] = await ownerApi.models.exports.query({ modelId: noConfig.id });
    expect(first?.status).toBe('failed');
    expect(first?.error).toContain('adapter_config.json');
    expect(await failed.getByTestId('export-failure').textContent()).toBe(first!.error!);
    expect(await failed.getByRole('button', { name: /^Download/ }).count()).toBe(0);

    // Try again: the same export is queued again (one row still), and fails again for the same reason.
    const isExport = (url: string) => new URL(url).pathname.split('/').pop()!.split(',').includes('models.export');
    const [asked] = await Promise.all([page.waitForResponse((r) => isExport(r.url())), failed.getByRole('button', { name: 'Try again' }).click()]);
    expect(asked.status()).toBe(200);
    const deadline = Date.now() + 60_000;
    let again = first!;
    while (again.updatedAt === first!.updatedAt || again.status !== 'failed') {
      if (Date.now() > deadline) throw new Error(`the export was not tried again: ${JSON.stringify(again)}`);
      await Bun.sleep(50);
      again = (await ownerApi.models.exports.query({ modelId: noConfig.id }))[0]!;
    }
    expect(again.id).toBe(first!.id);
    await failed.waitFor();
    expect(await panel.getByTestId('export-row').count()).toBe(1);
    await panel.screenshot({ path: path.join(SHOTS, 'adapters-export-failed-1280.png') });
  }, 120_000);

  test('the share page shows the fit, weights and usage panels, without export actions', async () => {
    const { url } = await ownerApi.models.share.mutate({ modelId: fits.id, expiresInDays: 1 });
    const guest = await pages.open(undefined, 375);
    await guest.goto(new URL(url).pathname);
    await guest.getByRole('heading', { level: 1, name: fits.name }).waitFor();
    expect(await guest.getByTestId('fit-verdict').textContent()).toBe('Fits its base');
    expect(await guest.locator('[data-testid="layer-chart"] svg rect.bar').count()).toBe(24);
    expect(await guest.getByTestId('usage-snippet').count()).toBe(fits.usage.length);
    expect(await guest.getByTestId('exports-panel').count()).toBe(0);
    expect(await guest.getByRole('button', { name: 'Export GGUF' }).count()).toBe(0);
    await expectNoHorizontalOverflow(guest);
    await guest.screenshot({ path: path.join(SHOTS, 'adapters-share-375.png'), fullPage: true });
  }, 60_000);

  test('the catalogue and the model pages fit a 375 px phone; code scrolls inside its block', async () => {
    const page = await pages.open(owner.cookie, 375);
    await page.goto(`/models?ws=${teamId}`);
    await card(page, mismatch.id).getByTestId('flag-mismatch').waitFor();
    await expectNoHorizontalOverflow(page);
    for (const model of [fits, mismatch, untrained, nonFinite]) {
      await openModel(page, model);
      await page.getByTestId('usage-snippet').first().waitFor();
      await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
      // The details tables open too: their rows are the widest part.
      for (const d of await page.locator('details').all()) await d.evaluate((el) => el.setAttribute('open', ''));
      await expectNoHorizontalOverflow(page);
    }
    // A long line of code makes its <pre> scroll, not the page.
    await openModel(page, fits);
    const pre = page.locator('[data-testid="usage-snippet"] pre').first();
    const { scrollWidth, clientWidth, overflowX } = await pre.evaluate((el) => ({
      scrollWidth: el.scrollWidth,
      clientWidth: el.clientWidth,
      overflowX: getComputedStyle(el).overflowX,
    }));
    expect(overflowX).toBe('auto');
    expect(scrollWidth).toBeGreaterThan(clientWidth);
    await page.screenshot({ path: path.join(SHOTS, 'adapters-detail-375.png'), fullPage: true });
    await page.getByTestId('compatibility-panel').screenshot({ path: path.join(SHOTS, 'adapters-runs-on-375.png') });
    await page.getByTestId('usage-panel').screenshot({ path: path.join(SHOTS, 'adapters-usage-375.png') });
    await openModel(page, mismatch);
    await page.getByTestId('compatibility-panel').screenshot({ path: path.join(SHOTS, 'adapters-mismatch-375.png') });
  }, 90_000);

  test('no page threw or was blocked by the Content-Security-Policy', () => {
    expect(pages.problems).toEqual([]);
  });
});
