/**
 * The webhooks page in a real browser, on a 375 px phone: create a webhook (its secret shown once), send a
 * test that a local receiver verifies with that secret, read the delivery, disable it, delete it.
 * Needs web/dist (`bun run build:web`; `bun run test` builds it first).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { browserPages, expectNoHorizontalOverflow, launchChromium, SHOTS, SKIP_BROWSER_TESTS } from '../helpers/browser.ts';
import { signUp, startTestService, type TestService } from '../helpers/service.ts';

let svc: TestService;
let browser: Browser;
let pages: ReturnType<typeof browserPages>;
let cookie = '';
const received: { headers: Record<string, string>; body: string }[] = [];
const receiver = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  async fetch(req) {
    received.push({ headers: Object.fromEntries(req.headers), body: await req.text() });
    return new Response(null, { status: 204 });
  },
});

describe.skipIf(SKIP_BROWSER_TESTS)('webhooks (browser)', () => {
  beforeAll(async () => {
    [svc, browser] = await Promise.all([
      startTestService({ label: 'browser-webhooks', webDist: 'web/dist', env: { WEBHOOK_ALLOW_PRIVATE_HOSTS: 'true' } }),
      launchChromium(),
    ]);
    pages = browserPages(browser, svc.url);
    cookie = (await signUp(svc.url, `hooks-${Math.random().toString(36).slice(2, 10)}@example.com`)).cookie;
  }, 60_000);

  afterAll(async () => {
    await pages?.close();
    await browser?.close();
    await svc?.stop();
    receiver.stop(true);
  });

  test('create, see the secret once, send a test the receiver verifies, read its delivery, disable and delete', async () => {
    const page = await pages.open(cookie, 375);
    await page.goto('/webhooks');
    await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
    const url = `http://127.0.0.1:${receiver.port}/hooks/lora-with-a-rather-long-path-that-must-wrap-on-a-phone`;
    await page.getByLabel('Receiver URL').fill(url);
    await page.getByRole('checkbox', { name: /export\.ready/ }).check();
    await page.getByRole('button', { name: 'Create webhook' }).click();
    const secret = (await page.getByTestId('webhook-secret').textContent())!;
    expect(secret).toMatch(/^whsec_/);
    const panel = page.getByTestId('webhook');
    await expect(panel.getByRole('heading', { name: url }).isVisible()).resolves.toBe(true);
    expect(await panel.locator('.tag').allTextContents()).toEqual(['model.ready', 'export.ready']);

    await panel.getByRole('button', { name: 'Send test' }).click();
    await panel.getByTestId('delivery').filter({ hasText: 'succeeded' }).waitFor();
    expect(received).toHaveLength(1);
    expect((new Webhook(secret).verify(received[0]!.body, received[0]!.headers) as { type: string }).type).toBe('webhook.test');
    expect(await panel.getByTestId('delivery').textContent()).toContain('204');
    await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
    await expectNoHorizontalOverflow(page);
    await page.screenshot({ path: path.join(SHOTS, 'webhooks-375.png'), fullPage: true });

    await panel.getByRole('button', { name: 'Disable', exact: true }).click();
    await panel.getByText('Disabled by Test User.').waitFor();
    await panel.getByRole('button', { name: 'Delete', exact: true }).click();
    await panel.getByRole('button', { name: 'Yes, delete it' }).click();
    await page.getByText('No webhooks yet.').waitFor();
  }, 60_000);

  test('no page threw or was blocked by the Content-Security-Policy', () => {
    expect(pages.problems).toEqual([]);
  });
});
