/**
 * Real trainer outputs in a real browser (chromium through playwright-core) against the real service: an HF
 * Trainer run whose worker sent no metrics (curve from trainer_state.json, the trainer's best checkpoint, pickles,
 * skipped folders, evaluation results), a torchtune run (merged model files) and a LLaMA-Factory run (BLEU/ROUGE
 * computed from its predictions), on a desktop and a 375 px phone; the workspace setting that includes skipped
 * folders. Needs web/dist (`bun run build:web`; `bun run test` builds it first).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { writeTrainerOutput } from '../fixtures/trainers.ts';
import { browserPages, expectNoHorizontalOverflow, launchChromium, SHOTS, SKIP_BROWSER_TESTS } from '../helpers/browser.ts';
import { client, signUp, startTestService, type TestService } from '../helpers/service.ts';
import { runTrainingJob, waitForIngest } from '../helpers/training.ts';

type Api = ReturnType<typeof client>;
type Model = Awaited<ReturnType<Api['models']['get']['query']>>;

let svc: TestService;
let browser: Browser;
let pages: ReturnType<typeof browserPages>;
let owner: { cookie: string; userId: string };
let api: Api;
let hf: Model;
let torchtune: Model;
let llamafactory: Model;

async function deliver(name: string, kind: 'hf' | 'torchtune' | 'llamafactory') {
  const run = await runTrainingJob(svc, api, { name, report: 'none', writeOutput: (dir) => writeTrainerOutput(dir, kind) });
  const job = await waitForIngest(api, run.jobId);
  expect(job.ingestStatus).toBe('ready');
  return api.models.get.query({ modelId: job.artifactId! });
}

async function openModel(page: Page, model: Model) {
  await page.goto(`/models/${model.id}`);
  await page.getByRole('heading', { level: 1, name: model.name }).waitFor();
}

describe.skipIf(SKIP_BROWSER_TESTS)('trainer outputs (browser)', () => {
  beforeAll(async () => {
    [svc, browser] = await Promise.all([startTestService({ label: 'browser-trainers', webDist: 'web/dist' }), launchChromium()]);
    pages = browserPages(browser, svc.url);
    owner = await signUp(svc.url, `owner-${Math.random().toString(36).slice(2, 10)}@example.com`, 'correct horse battery', 'Tess Trainer');
    api = client(svc.url, { cookie: owner.cookie });
    hf = await deliver('qwen-hf-trainer-run', 'hf');
    torchtune = await deliver('qwen-torchtune-run', 'torchtune');
    llamafactory = await deliver('qwen-llamafactory-run', 'llamafactory');
    // The seeds are what they claim.
    expect(hf.curveSource?.sources).toEqual(['trainer_state']);
    expect(hf.checkpoints.trainerBest?.checkpoint).toBe('checkpoint-1000');
    expect(torchtune.files.some((f) => f.mergedModel)).toBe(true);
    expect(llamafactory.evaluations.some((e) => e.format === 'predictions')).toBe(true);
  }, 120_000);

  afterAll(async () => {
    await pages?.close();
    await browser?.close();
    await svc?.stop();
  });

  test("an HF run: the curve's source, the trainer's best beside ours, pickles marked, skipped folders listed, results", async () => {
    const page = await pages.open(owner.cookie);
    await openModel(page, hf);
    await expect(page.getByTestId('curve-source').textContent()).resolves.toMatch(
      /^Curve read from trainer_state\.json \(\d+ points\): the worker reported none\.$/,
    );
    const trainerBest = await page.getByTestId('trainer-best').textContent();
    expect(trainerBest).toContain('checkpoint-1000');
    // The checkpoints table: numeric order, the trainer's pick badged.
    const rows = await page.locator('[data-testid="checkpoint-row"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-checkpoint')));
    expect(rows).toEqual(['checkpoint-500', 'checkpoint-1000', 'checkpoint-1500']);
    await expect(page.locator('[data-checkpoint="checkpoint-1000"]').textContent()).resolves.toContain("Trainer's best");
    // Every pickle is marked, and only pickles.
    const pickles = await page
      .locator('[data-testid="file-row"]:has([data-testid="pickle-badge"])')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
    expect(pickles.sort()).toEqual(
      hf.files
        .filter((f) => f.format === 'pickle' || f.format === 'torch_zip')
        .map((f) => f.path)
        .sort(),
    );
    expect(pickles.length).toBeGreaterThan(0);
    await expect(page.getByTestId('pickle-badge').first().textContent()).resolves.toBe('pickle (not inspected)');
    const skipped = await page.locator('[data-testid="skipped"] li').evaluateAll((els) => els.map((e) => e.getAttribute('data-rule')));
    expect(skipped).toEqual(expect.arrayContaining(['.git/', 'runs/', 'wandb/', 'tmp-checkpoint-*/']));
    const evalSets = await page.locator('[data-testid="eval-set"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
    expect(evalSets).toEqual(hf.evaluations.map((e) => e.path));
    await expect(page.locator('[data-testid="eval-metric"][data-metric="eval_loss"]').first().isVisible()).resolves.toBe(true);
    await page.screenshot({ path: path.join(SHOTS, 'trainer-outputs-hf-1280.png'), fullPage: true });
  });

  test('a torchtune run: the merged model files are marked; a LLaMA-Factory run: BLEU and ROUGE computed here', async () => {
    const page = await pages.open(owner.cookie);
    await openModel(page, torchtune);
    const merged = await page
      .locator('[data-testid="file-row"]:has([data-testid="merged-badge"])')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
    expect(merged.sort()).toEqual(
      torchtune.files
        .filter((f) => f.mergedModel)
        .map((f) => f.path)
        .sort(),
    );
    await expect(page.getByTestId('curve-source').textContent()).resolves.toContain('Curve read from logs/log_');

    await openModel(page, llamafactory);
    const computed = page.locator('[data-testid="eval-set"][data-path="generated_predictions.jsonl"]');
    await expect(computed.textContent()).resolves.toContain('computed here');
    for (const metric of ['bleu', 'rouge1', 'rouge2', 'rougeL']) {
      await expect(computed.locator(`[data-metric="${metric}"]`).isVisible()).resolves.toBe(true);
    }
  });

  test('the model page fits a 375 px phone', async () => {
    const page = await pages.open(owner.cookie, 375);
    for (const model of [hf, llamafactory]) {
      await openModel(page, model);
      await page.getByTestId('evaluations-panel').waitFor();
      await expectNoHorizontalOverflow(page);
    }
    await page.screenshot({ path: path.join(SHOTS, 'trainer-outputs-375.png'), fullPage: true });
  });

  test('an admin includes the skipped folders on the Usage page', async () => {
    const page = await pages.open(owner.cookie);
    await page.goto('/usage');
    const box = page.getByTestId('skipped-setting').getByRole('checkbox');
    await box.waitFor();
    expect(await box.isChecked()).toBe(false);
    await box.check();
    const [personal] = await api.workspaces.list.query();
    const deadline = Date.now() + 10_000;
    while (!(await api.workspaces.get.query({ workspaceId: personal!.id })).settings.includeSkipped) {
      if (Date.now() > deadline) throw new Error('the setting was not saved within 10 s');
      await Bun.sleep(50);
    }
    // Saved, and the page shows it after a reload.
    await page.reload();
    await page.getByTestId('skipped-setting').getByRole('checkbox').waitFor();
    expect(await page.getByTestId('skipped-setting').getByRole('checkbox').isChecked()).toBe(true);
  });
});
