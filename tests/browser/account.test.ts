/**
 * Issue 14's account basics and data features in Debian's chromium: the account page (change the password,
 * sign out of other sessions, delete the account), the files panel's "Download all" (one click, the zip) and
 * "Choose files", the catalogue's dataset and date filters (kept in the URL), and a model's download history.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fs from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { downloadEvents } from '../../db/schema/index.ts';
import { fileBytes, insertArtifact, insertDataset, personalWorkspaceOf } from '../helpers/factories.ts';
import { browserPages, expectNoHorizontalOverflow, launchChromium, SKIP_BROWSER_TESTS } from '../helpers/browser.ts';
import { client, signUp, startTestService, type TestService } from '../helpers/service.ts';

const PASSWORD = 'correct horse battery';
const NAME = 'Ada Account';

let svc: TestService;
let browser: Browser;
let pages: ReturnType<typeof browserPages>;
let user: { email: string; cookie: string; userId: string };
let modelId = '';
let modelFiles: { id: string; path: string }[] = [];
const datasets: Record<'support' | 'code', string> = { support: '', code: '' };

const email = (label: string) => `${label}-${Math.random().toString(36).slice(2, 10)}@example.com`;
/** Noon UTC of a day: the same calendar day in any browser zone from UTC−11 to UTC+11. */
const noon = (day: string) => BigInt(Date.parse(`${day}T12:00:00Z`)) * 1000n;

async function newAccount(label: string) {
  const address = email(label);
  return { email: address, ...(await signUp(svc.url, address, PASSWORD, NAME)) };
}

async function signInAs(page: Page, address: string, password: string) {
  await page.goto('/sign-in');
  await page.getByLabel('Email').fill(address);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Polls `read` until it gives `want` (10 s at most), then asserts it: for a page that settles after a request. */
async function eventually<T>(read: () => Promise<T>, want: T): Promise<void> {
  const deadline = Date.now() + 10_000;
  let got = await read();
  while (!Bun.deepEquals(got, want) && Date.now() < deadline) {
    await Bun.sleep(50);
    got = await read();
  }
  expect(got as unknown).toEqual(want as unknown);
}

/** The cards the catalogue shows now, by name, sorted. */
async function cardNames(page: Page): Promise<string[]> {
  await page.getByTestId('model-grid').waitFor();
  const names = await page.locator('[data-testid="model-card"] .card-title > a').allTextContents();
  return names.map((n) => n.trim()).sort();
}

describe.skipIf(SKIP_BROWSER_TESTS)('account and data features (browser)', () => {
  beforeAll(async () => {
    [svc, browser] = await Promise.all([startTestService({ label: 'browser-account', webDist: 'web/dist' }), launchChromium()]);
    pages = browserPages(browser, svc.url);
    user = await newAccount('ada');
    const ws = await personalWorkspaceOf(svc.deps, user.userId);
    datasets.support = (await insertDataset(svc.deps, user.userId, 'support-tickets', ws)).id;
    datasets.code = (await insertDataset(svc.deps, user.userId, 'code-review', ws)).id;
    const spec = (name: string, dataset: 'support' | 'code', day: string) => ({ name, datasetId: datasets[dataset], createdAtMicros: noon(day) });
    await insertArtifact(svc.deps, user.userId, spec('support-march', 'support', '2024-03-10'));
    await insertArtifact(svc.deps, user.userId, spec('code-march', 'code', '2024-03-20'));
    await insertArtifact(svc.deps, user.userId, spec('code-april', 'code', '2024-04-05'));
    const model = await insertArtifact(svc.deps, user.userId, {
      ...spec('support-may', 'support', '2024-05-01'),
      files: ['adapter_config.json', 'adapter_model.safetensors', 'tokenizer.json'].map((path) => ({ path, bytes: fileBytes(path, 2048) })),
    });
    modelId = model.id;
    modelFiles = model.files.map((f) => ({ id: f.id, path: f.path }));
  }, 60_000);

  afterAll(async () => {
    await pages?.close();
    await browser?.close();
    await svc?.stop();
  });

  test('changing the password signs other sessions out, keeps this one, and the new password signs in', async () => {
    const other = await pages.open(user.cookie);
    await other.goto('/models');
    await other.getByTestId('model-grid').waitFor();

    const page = await pages.open(user.cookie);
    await page.goto('/models');
    await page
      .getByRole('link', { name: 'Account' })
      .or(page.getByRole('link', { name: user.email }))
      .first()
      .click();
    await page.waitForURL((u) => u.pathname === '/account');
    expect(await page.title()).toContain('Account');

    // Two different new passwords: said next to the field, nothing sent.
    await page.getByLabel('Current password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('New password', { exact: true }).fill('a brand new passphrase');
    await page.getByLabel('Repeat the new password').fill('something else entirely');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('The two new passwords are not the same.').waitFor();

    await page.getByLabel('Repeat the new password').fill('a brand new passphrase');
    expect(await page.getByLabel('Sign out of every other session').isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('status').filter({ hasText: 'Password changed. Every other session was signed out.' }).waitFor();

    // This browser keeps working (it was handed a fresh session); the other one is sent to sign in.
    await page.goto('/models');
    await page.getByTestId('model-grid').waitFor();
    await other.reload();
    await other.waitForURL((u) => u.pathname === '/sign-in');

    // The old password no longer signs in; the new one does.
    const fresh = await pages.open();
    await signInAs(fresh, user.email, PASSWORD);
    await fresh.getByRole('alert').waitFor();
    expect(new URL(fresh.url()).pathname).toBe('/sign-in');
    await signInAs(fresh, user.email, 'a brand new passphrase');
    await fresh.waitForURL((u) => u.pathname === '/models');
    // The API cookie of the tests below follows the new session.
    user.cookie = (await fresh.context().cookies())
      .filter((c) => c.name.includes('session'))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }, 60_000);

  test('"Sign out of other sessions" ends the other browser and keeps this one', async () => {
    const other = await pages.open(user.cookie);
    await other.goto('/models');
    await other.getByTestId('model-grid').waitFor();
    const res = await fetch(`${svc.url}/api/auth/sign-in/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: svc.url },
      body: JSON.stringify({ email: user.email, password: 'a brand new passphrase' }),
    });
    const mine = res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const page = await pages.open(mine);
    await page.goto('/account');
    await page.getByRole('button', { name: 'Sign out of other sessions' }).click();
    await page.getByRole('status').filter({ hasText: 'Every other session was signed out.' }).waitFor();
    await other.reload();
    await other.waitForURL((u) => u.pathname === '/sign-in');
    await page.goto('/models');
    await page.getByTestId('model-grid').waitFor();
    user.cookie = mine;
  }, 60_000);

  test('"Download all" is one click that downloads the zip; "Choose files" downloads the files picked', async () => {
    const page = await pages.open(user.cookie);
    await page.goto(`/models/${modelId}`);
    const [zip] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download all' }).click()]);
    expect(zip.suggestedFilename()).toBe('support-may.zip');
    const bytes = fs.readFileSync((await zip.path())!);
    expect(bytes.subarray(0, 2).toString()).toBe('PK');
    // Every file is in it, by name (a zip's central directory lists them in the clear).
    for (const f of modelFiles) expect(bytes.includes(Buffer.from(f.path))).toBe(true);

    await page.getByRole('button', { name: 'Choose files' }).click();
    const chooseBar = page.getByTestId('choose-bar');
    expect(await chooseBar.getByRole('button', { name: 'Download chosen files' }).isDisabled()).toBe(true);
    await page.getByRole('checkbox', { name: 'Choose adapter_config.json' }).check();
    await page.getByRole('checkbox', { name: 'Choose tokenizer.json' }).check();
    await chooseBar.getByText('2 chosen').waitFor();
    const downloads: string[] = [];
    const twoDone = new Promise<void>((resolve) => {
      page.on('download', (d) => {
        downloads.push(d.suggestedFilename());
        if (downloads.length === 2) resolve();
      });
    });
    await chooseBar.getByRole('button', { name: 'Download chosen files' }).click();
    await twoDone;
    expect(downloads.sort()).toEqual(['adapter_config.json', 'tokenizer.json']);
    // The links stay on the page, for a browser that asks before several downloads.
    expect(await page.getByTestId('download-links').getByRole('link').allTextContents()).toEqual(['adapter_config.json', 'tokenizer.json']);
  }, 60_000);

  test('the download history lists who downloaded which files, and pages with "More"', async () => {
    const page = await pages.open(user.cookie);
    await page.goto(`/models/${modelId}`);
    const history = page.getByTestId('download-history');
    const records = history.getByTestId('download-record');
    // The previous test's downloads: "Download all" is one record, the zip's (made when the zip was fetched, not
    // when its link was), and the two chosen files.
    await records.first().waitFor();
    await eventually(() => records.count(), 2);
    const texts = await records.allTextContents();
    expect(texts.every((t) => t.includes(NAME))).toBe(true);
    expect(texts.some((t) => t.includes('the zip of all files'))).toBe(true);
    expect(texts.some((t) => t.includes('all files') && !t.includes('zip'))).toBe(false);
    expect(texts.some((t) => t.includes('adapter_config.json') && t.includes('tokenizer.json'))).toBe(true);

    // 25 older records: the panel shows the latest 20, "More" brings the rest.
    const ws = await personalWorkspaceOf(svc.deps, user.userId);
    await svc.deps.database.db.insert(downloadEvents).values(
      Array.from({ length: 25 }, (_, i) => ({
        workspaceId: ws,
        userId: user.userId,
        artifactId: modelId,
        fileIds: [modelFiles[0]!.id],
        createdAt: new Date(Date.parse('2024-06-01T00:00:00Z') + i * 60_000),
      })),
    );
    await page.reload();
    await records.first().waitFor();
    expect(await records.count()).toBe(20);
    await history.getByRole('button', { name: 'More' }).click();
    await eventually(() => records.count(), 27);
    expect(await history.getByRole('button', { name: 'More' }).count()).toBe(0);
  }, 60_000);

  test('the dataset and date filters narrow the catalogue and live in the URL', async () => {
    const page = await pages.open(user.cookie);
    await page.goto('/models');
    expect(await cardNames(page)).toEqual(['code-april', 'code-march', 'support-march', 'support-may']);

    await page.getByLabel('Dataset', { exact: true }).selectOption({ label: 'code-review' });
    await page.waitForURL((u) => u.searchParams.get('dataset') === datasets.code);
    await eventually(() => cardNames(page), ['code-april', 'code-march']);

    await page.getByLabel('Created from').fill('2024-04-01');
    await page.waitForURL((u) => u.searchParams.get('from') === '2024-04-01');
    await eventually(() => cardNames(page), ['code-april']);

    // Another dataset and a closed range: the URL holds all three, and a reload keeps them.
    await page.getByLabel('Dataset', { exact: true }).selectOption({ label: 'support-tickets' });
    await page.getByLabel('Created from').fill('2024-03-01');
    await page.getByLabel('Created until').fill('2024-03-31');
    await page.waitForURL((u) => u.searchParams.get('to') === '2024-03-31' && u.searchParams.get('from') === '2024-03-01');
    await eventually(() => cardNames(page), ['support-march']);
    await page.reload();
    expect(await cardNames(page)).toEqual(['support-march']);
    expect(await page.getByLabel('Dataset', { exact: true }).inputValue()).toBe(datasets.support);
    expect(await page.getByLabel('Created until').inputValue()).toBe('2024-03-31');
  }, 60_000);

  test('tokens: an optional expiry when creating, shown with "last used"', async () => {
    const page = await pages.open(user.cookie);
    await page.goto('/tokens');
    await page.getByLabel('Name').fill('ci-for-a-month');
    await page.getByLabel('Expires').selectOption({ label: 'In 30 days' });
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = (await page.getByTestId('new-token').textContent())!;
    const row = page.getByTestId('token-row').filter({ hasText: 'ci-for-a-month' });
    await row.getByText('Never').waitFor();
    const [listed] = (await client(svc.url, { cookie: user.cookie }).tokens.list.query()).filter((t) => t.name === 'ci-for-a-month');
    const days = (Date.parse(listed!.expiresAt!) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);
    expect(await row.locator('.token-expiry time').getAttribute('datetime')).toBe(new Date(listed!.expiresAt!).toISOString());
    // Used once: "last used" shows the time instead of "Never".
    await client(svc.url, { token: secret }).models.list.query({});
    await page.reload();
    await row.locator('td time').nth(1).waitFor();
    expect(await row.getByText('Never').count()).toBe(0);
  }, 60_000);

  test('the new parts fit a 360 px phone: the account page, the filters, choosing files, the history, the token form', async () => {
    const page = await pages.open(user.cookie, 360);
    await page.goto('/account');
    await page.getByRole('button', { name: 'Delete my account' }).waitFor();
    // The header keeps a way to the account page on a phone.
    expect(await page.getByRole('link', { name: 'Account', exact: true }).isVisible()).toBe(true);
    await expectNoHorizontalOverflow(page);
    await page.goto('/models');
    await page.getByLabel('Created until').waitFor();
    await expectNoHorizontalOverflow(page);
    await page.goto(`/models/${modelId}`);
    await page.getByRole('button', { name: 'Choose files' }).click();
    await page.getByRole('checkbox', { name: 'Choose tokenizer.json' }).check();
    await page.getByTestId('download-record').first().waitFor();
    await expectNoHorizontalOverflow(page);
    await page.goto('/tokens');
    await page.getByLabel('Expires').waitFor();
    await expectNoHorizontalOverflow(page);
  }, 60_000);

  test('deleting the account needs the email typed, then signs out for good', async () => {
    const doomed = await newAccount('doomed');
    const page = await pages.open(doomed.cookie);
    await page.goto('/account');
    const button = page.getByRole('button', { name: 'Delete my account' });
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel(/Type your email/).fill('not-my-email@example.com');
    expect(await button.isDisabled()).toBe(true);
    await page.getByLabel(/Type your email/).fill(doomed.email);
    await button.click();
    await page.waitForURL((u) => u.pathname === '/sign-in');
    const again = await pages.open();
    await signInAs(again, doomed.email, PASSWORD);
    await again.getByRole('alert').waitFor();
    expect(new URL(again.url()).pathname).toBe('/sign-in');
  }, 60_000);
});
