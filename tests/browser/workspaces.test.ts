/**
 * Teams in a real browser (chromium through playwright-core) against the real service: a viewer of a team
 * workspace sees and downloads the team's model with no mutate buttons, an invite made on the members page is
 * accepted in a second browser context, and a share link works anonymously until it is unshared.
 * Needs web/dist (`bun run build:web`; `bun run test` builds it first).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { browserPages, expectNoHorizontalOverflow, launchChromium, SHOTS, SKIP_BROWSER_TESTS } from '../helpers/browser.ts';
import { expectErrorLog } from '../helpers/log-guard.ts';
import { client, signUp, startTestService, type TestService } from '../helpers/service.ts';
import { asKept, runTrainingJob, waitForIngest } from '../helpers/training.ts';

const PASSWORD = 'correct horse battery';
const TEAM = 'Vision Team';

let svc: TestService;
let browser: Browser;
let pages: ReturnType<typeof browserPages>;

let owner: { email: string; cookie: string; userId: string };
let teamId = '';
let modelId = '';
let files: { path: string; sha256: string }[] = [];

const email = (label: string) => `${label}-${Math.random().toString(36).slice(2, 10)}@example.com`;

async function downloadAndHash(page: Page, filePath: string): Promise<string> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: `Download ${filePath}` }).click()]);
  return createHash('sha256')
    .update(fs.readFileSync((await download.path())!))
    .digest('hex');
}

/** Waits until the header's switcher shows workspace `id` (it renders once the list has loaded). */
async function selectedWorkspace(page: Page, id: string) {
  await page.waitForFunction((want) => document.querySelector<HTMLSelectElement>('#ws-select')?.value === want, id);
}

/** A user who is `role` in the team, through the API as the owner would do it by hand. */
async function teamMember(role: 'viewer' | 'member') {
  const address = email(role);
  const user = await signUp(svc.url, address, PASSWORD, `${role} person`);
  const invite = await client(svc.url, { cookie: owner.cookie }).workspaces.members.invite.mutate({ workspaceId: teamId, email: address, role });
  await client(svc.url, { cookie: user.cookie }).workspaces.members.accept.mutate({ token: invite.token });
  return { ...user, email: address };
}

describe.skipIf(SKIP_BROWSER_TESTS)('workspaces (browser)', () => {
  beforeAll(async () => {
    [svc, browser] = await Promise.all([startTestService({ label: 'browser-teams', webDist: 'web/dist' }), launchChromium()]);
    pages = browserPages(browser, svc.url);

    // The team: its owner, a workspace token (jobs made with it land in the team) and one delivered model.
    const ownerEmail = email('owner');
    owner = { email: ownerEmail, ...(await signUp(svc.url, ownerEmail, PASSWORD, 'Olivia Owner')) };
    const ownerApi = client(svc.url, { cookie: owner.cookie });
    teamId = (await ownerApi.workspaces.create.mutate({ name: TEAM })).id;
    const { token } = await ownerApi.tokens.create.mutate({ name: 'team-ci', workspaceId: teamId });
    const teamApi = client(svc.url, { token });
    const run = await runTrainingJob(svc, teamApi, { name: 'team-model-v1', steps: 200 });
    const job = await waitForIngest(teamApi, run.jobId);
    expect(job.ingestStatus).toBe('ready');
    modelId = job.artifactId!;
    files = run.files;

    // And one job whose delivery failed for good, so the jobs page has a Retry to show (or hide).
    expectErrorLog(/ingest failed/);
    const broken = await runTrainingJob(svc, teamApi, { name: 'team-broken', writeOutput: (dir) => rm(dir, { recursive: true }) });
    expect((await waitForIngest(teamApi, broken.jobId)).ingestStatus).toBe('failed');
  }, 90_000);

  afterAll(async () => {
    await pages?.close();
    await browser?.close();
    await svc?.stop();
  });

  test('a viewer sees the team model, downloads a file, and has no share, retry or invite buttons', async () => {
    const viewer = await teamMember('viewer');
    const ownerPage = await pages.open(owner.cookie);
    const page = await pages.open(viewer.cookie);

    await page.goto(`/models?ws=${teamId}`);
    const card = page.locator(`[data-testid="model-card"][data-model-id="${modelId}"]`);
    await card.waitFor();
    await selectedWorkspace(page, teamId);

    await card.getByRole('link').click();
    await page.getByRole('heading', { level: 1, name: 'team-model-v1' }).waitFor();
    const target = files.find((f) => f.path.endsWith('adapter_model.safetensors')) ?? files[0]!;
    expect(await downloadAndHash(page, target.path)).toBe(target.sha256);
    expect(await page.getByRole('heading', { name: 'Share', exact: true }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Create share link' }).count()).toBe(0);
    // The owner, on the same page, does have them: the check above can fail.
    await ownerPage.goto(`/models/${modelId}`);
    await ownerPage.getByRole('button', { name: 'Create share link' }).waitFor();

    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/jobs' && u.searchParams.get('ws') === teamId);
    const brokenRow = page.getByTestId('job-row').filter({ hasText: 'team-broken' });
    await brokenRow.getByText('Failed', { exact: true }).waitFor();
    expect(await page.getByRole('button', { name: /^Retry/ }).count()).toBe(0);
    await ownerPage.goto(`/jobs?ws=${teamId}`);
    await ownerPage.getByRole('button', { name: 'Retry delivery of team-broken' }).waitFor();

    await page.getByRole('link', { name: 'API tokens' }).click();
    await page.getByRole('heading', { level: 1, name: 'API tokens' }).waitFor();
    expect(await page.getByRole('button', { name: 'Create token' }).count()).toBe(0);

    await page.getByRole('link', { name: 'Members' }).click();
    await page.getByTestId('member-row').filter({ hasText: viewer.email }).waitFor();
    expect(await page.getByTestId('member-row').filter({ hasText: viewer.email }).getByTestId('member-role').textContent()).toBe('Viewer');
    expect(await page.getByRole('button', { name: 'Invite', exact: true }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Remove/ }).count()).toBe(0);
    expect(await page.getByRole('combobox', { name: /^Role of/ }).count()).toBe(0);
    await page.getByRole('button', { name: 'Leave workspace' }).waitFor();
    await ownerPage.goto(`/members?ws=${teamId}`);
    await ownerPage.getByRole('button', { name: 'Invite', exact: true }).waitFor();
    await ownerPage.getByRole('button', { name: `Remove ${viewer.email}` }).waitFor();

    // Leaving ends on the personal workspace, and the team is gone from the switcher.
    await page.getByRole('button', { name: 'Leave workspace' }).click();
    await page.getByRole('button', { name: `Yes, leave ${TEAM}` }).click();
    await page.waitForURL((u) => u.pathname === '/models' && u.searchParams.has('ws') && u.searchParams.get('ws') !== teamId);
    await page.getByRole('heading', { name: 'No models yet' }).waitFor();
    expect(await page.getByLabel('Workspace', { exact: true }).locator(`option[value="${teamId}"]`).count()).toBe(0);
  }, 60_000);

  test('an invite made on the members page is accepted in a second browser context after signing in', async () => {
    const inviteeEmail = email('invitee');
    await signUp(svc.url, inviteeEmail, PASSWORD, 'Ivy Invitee');

    const ownerPage = await pages.open(owner.cookie);
    await ownerPage.goto(`/members?ws=${teamId}`);
    await ownerPage.getByLabel('Email').fill(inviteeEmail);
    await ownerPage.getByLabel('Role', { exact: true }).selectOption('member');
    await ownerPage.getByRole('button', { name: 'Invite', exact: true }).click();
    const inviteUrl = (await ownerPage.getByTestId('invite-url').textContent())!;
    expect(inviteUrl).toContain('/invite/');
    await ownerPage.getByTestId('invite-row').filter({ hasText: inviteeEmail }).waitFor();

    // The invitee opens the link as a guest, signs in from there and comes back to it.
    const page = await pages.open();
    const invitePath = new URL(inviteUrl).pathname;
    await page.goto(invitePath);
    await page.getByTestId('invite-summary').getByText(TEAM).waitFor();
    expect(await page.getByTestId('invite-summary').textContent()).toContain('Member');
    await page.screenshot({ path: path.join(SHOTS, 'invite-1280.png') });
    await page.getByRole('link', { name: 'Sign in to accept' }).click();
    await page.waitForURL((u) => u.pathname === '/sign-in' && u.searchParams.get('next') === invitePath);
    await page.getByLabel('Email').fill(inviteeEmail);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname === invitePath);
    await page.getByRole('button', { name: 'Accept invite' }).click();
    await page.waitForURL((u) => u.pathname === '/models' && u.searchParams.get('ws') === teamId);
    await selectedWorkspace(page, teamId);
    expect(await page.getByLabel('Workspace', { exact: true }).locator('option:checked').textContent()).toBe(TEAM);
    await page.locator(`[data-testid="model-card"][data-model-id="${modelId}"]`).waitFor();

    // Used once: the link now says so, and the owner sees a member instead of a pending invite.
    await page.goto(invitePath);
    await page.getByRole('alert').getByText('already been used').waitFor();
    await ownerPage.reload();
    await ownerPage.getByTestId('member-row').filter({ hasText: inviteeEmail }).waitFor();
    expect(await ownerPage.getByTestId('invite-row').filter({ hasText: inviteeEmail }).count()).toBe(0);
  }, 60_000);

  test('a share link works anonymously in a fresh context, on a phone too, and is no longer valid after unshare', async () => {
    const ownerPage = await pages.open(owner.cookie);
    await ownerPage.goto(`/models/${modelId}`);
    await ownerPage.getByLabel('Valid for (days)').fill('3');
    await ownerPage.getByRole('button', { name: 'Create share link' }).click();
    const shareUrl = (await ownerPage.getByTestId('share-url').textContent())!;
    await ownerPage.getByTestId('share-state').waitFor();
    expect(await ownerPage.getByTestId('share-state').textContent()).toStartWith('Shared until');
    await ownerPage.getByTestId('share-panel').screenshot({ path: path.join(SHOTS, 'share-panel-1280.png') });
    const sharePath = new URL(shareUrl).pathname;
    expect(sharePath).toMatch(/^\/s\/\S+$/);

    const guest = await pages.open(undefined, 375);
    await guest.goto(sharePath);
    await guest.getByRole('heading', { level: 1, name: 'team-model-v1' }).waitFor();
    await guest.locator('.uplot canvas').first().waitFor();
    // The output's files and the generated model card (README.md).
    expect(await guest.getByTestId('file-row').count()).toBe(files.length + 1);
    await expectNoHorizontalOverflow(guest);
    await guest.screenshot({ path: path.join(SHOTS, 'share-375.png'), fullPage: true });
    // Nothing of the app or the workspace: no navigation, no workspace name, no sign-in.
    expect(await guest.getByRole('navigation').count()).toBe(0);
    expect(await guest.getByText(TEAM).count()).toBe(0);
    expect(new URL(guest.url()).pathname).toBe(sharePath);

    // The first of the output's files, under the name the model keeps it as (its README.md is README.trainer.md there).
    const target = asKept(files)[0]!;
    expect(await downloadAndHash(guest, target.path)).toBe(target.sha256);
    // "Download all" on the share page: one click, the zip.
    const [zip] = await Promise.all([guest.waitForEvent('download'), guest.getByRole('button', { name: 'Download all' }).click()]);
    expect(zip.suggestedFilename()).toMatch(/\.zip$/);
    const zipBytes = fs.readFileSync((await zip.path())!);
    expect(zipBytes.subarray(0, 2).toString()).toBe('PK');

    await ownerPage.getByRole('button', { name: 'Unshare' }).click();
    await ownerPage.getByTestId('share-state').waitFor({ state: 'detached' });
    await guest.reload();
    await guest.getByRole('heading', { name: 'This link is no longer valid' }).waitFor();
  }, 60_000);

  test('a workspace made from the switcher opens on its members page; the personal one says it cannot be shared', async () => {
    const page = await pages.open(owner.cookie);
    await page.goto('/members');
    // A bare URL opens the workspace last shown in this browser: a new context has none, so the personal one.
    await page.waitForURL((u) => u.pathname === '/members' && u.searchParams.has('ws'));
    await page.getByTestId('personal-note').getByText('cannot be shared').waitFor();
    const personalId = new URL(page.url()).searchParams.get('ws');
    expect(await page.getByLabel('Email').count()).toBe(0);

    await page.getByRole('button', { name: 'New workspace' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'New workspace' });
    await dialog.getByLabel('Name').fill('Speech Lab');
    await dialog.getByRole('button', { name: 'Create workspace' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.waitForURL((u) => u.pathname === '/members' && u.searchParams.get('ws') !== personalId);
    const labId = new URL(page.url()).searchParams.get('ws')!;
    await selectedWorkspace(page, labId);
    expect(await page.getByLabel('Workspace', { exact: true }).locator('option:checked').textContent()).toBe('Speech Lab');
    await page.getByRole('button', { name: 'Invite', exact: true }).waitFor();
    await page.screenshot({ path: path.join(SHOTS, 'members-1280.png'), fullPage: true });

    // The switcher goes back; the choice is remembered, so a bare URL opens it.
    await page.getByLabel('Workspace', { exact: true }).selectOption(teamId);
    await page.waitForURL((u) => u.searchParams.get('ws') === teamId);
    await page.goto('/models');
    await page.waitForURL((u) => u.searchParams.get('ws') === teamId);
    await page.locator(`[data-testid="model-card"][data-model-id="${modelId}"]`).waitFor();
  }, 60_000);

  test('the team pages fit a 375 px phone', async () => {
    const page = await pages.open(owner.cookie, 375);
    for (const url of [`/models?ws=${teamId}`, `/jobs?ws=${teamId}`, `/models/${modelId}`, `/members?ws=${teamId}`]) {
      await page.goto(url);
      await page.getByRole('heading', { level: 1 }).waitFor();
      await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
      await expectNoHorizontalOverflow(page);
    }
    await page.screenshot({ path: path.join(SHOTS, 'members-375.png'), fullPage: true });
  }, 60_000);

  test('no page threw or was blocked by the Content-Security-Policy', () => {
    expect(pages.problems).toEqual([]);
  });
});
