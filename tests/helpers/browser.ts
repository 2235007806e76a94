/**
 * The browser suites' shared parts: Debian's chromium through playwright-core, signed-in pages that report
 * what a user would call broken, a failed test's page log, and the phone-width check.
 */
import { expect } from 'bun:test';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { onTestFailure } from './log-guard.ts';

const CHROMIUM = '/usr/bin/chromium';
/** `SKIP_BROWSER_TESTS=1` skips the browser suites (a machine without chromium); CI never sets it. */
export const SKIP_BROWSER_TESTS = process.env.SKIP_BROWSER_TESTS === '1';
/** Where suites write their screenshots (not committed; `web/screenshots` holds the README's pair). */
export const SHOTS = path.resolve('tests/output/screenshots');
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/**
 * Headless chromium, after checking what the suite needs: a missing browser or dashboard build fails
 * loudly, so it can never turn a suite green.
 */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set SKIP_BROWSER_TESTS=1)`);
  if (!fs.existsSync('web/dist/index.html')) throw new Error('web/dist is missing: run `bun run build:web` first');
  fs.mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

/**
 * The pages of one suite: `open` makes a context (signed in with a session cookie, or a guest's) and a
 * page; `problems` collects what a user would call broken (uncaught errors, Content-Security-Policy
 * refusals); a failed test gets the pages' recent events (console, responses) written beside its report.
 * Call it inside `beforeAll`, where onTestFailure hooks are registered.
 */
export function browserPages(browser: Browser, baseURL: string) {
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  const events: string[] = [];
  const note = (line: string) => {
    events.push(`${new Date().toISOString()} ${line}`);
    if (events.length > 500) events.shift();
  };
  onTestFailure(({ dir, stem }) => {
    fs.writeFileSync(path.join(dir, `${stem}.page-events.log`), `${events.splice(0).join('\n')}\n`);
  });
  return {
    problems,
    async open(cookie?: string, width = 1280): Promise<Page> {
      const ctx = await browser.newContext({ viewport: { width, height: 900 }, acceptDownloads: true, baseURL });
      contexts.push(ctx);
      if (cookie) {
        await ctx.addCookies(
          cookie.split('; ').map((kv) => {
            const at = kv.indexOf('=');
            return { name: kv.slice(0, at), value: kv.slice(at + 1), url: baseURL };
          }),
        );
      }
      const page = await ctx.newPage();
      page.setDefaultTimeout(15_000);
      page.on('pageerror', (err) => problems.push(`pageerror ${err.message}`));
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) problems.push(m.text());
        note(`console.${m.type()} ${m.text()}`);
      });
      page.on('response', (r) => note(`${r.status()} ${r.request().method()} ${r.url()}`));
      return page;
    },
    async close(): Promise<void> {
      for (const ctx of contexts) await ctx.close().catch(() => {});
    },
  };
}

/**
 * What sticks out of the viewport sideways, once the layout has settled (a chart resizes on its ResizeObserver's
 * next frame, so a page gets up to 2 s to fit): [] when the page fits, else its width and the elements to blame.
 */
export async function horizontalOverflow(page: Page): Promise<string[]> {
  await page
    .waitForFunction(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth, null, { timeout: 2_000 })
    .catch(() => {});
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth <= width) return [];
    // Inside a box that scrolls or clips sideways (tables, code), overflow is the box's own business; something placed
    // absolutely can still escape one, so the page's own width is always the first line of the report.
    const clipped = (el: Element) => {
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) if (getComputedStyle(a).overflowX !== 'visible') return true;
      return false;
    };
    const wide = [...document.querySelectorAll('body *')].filter((el) => el.getBoundingClientRect().right > width + 0.5 && !clipped(el));
    const named = wide
      .filter((el) => !wide.includes(el.parentElement!))
      .slice(0, 8)
      .map((el) => `${el.outerHTML.slice(0, 100)} right=${Math.round(el.getBoundingClientRect().right)}`);
    return [`${location.pathname} is ${document.documentElement.scrollWidth} px wide`, ...named];
  });
}

/** The page fits the viewport: nothing sticks out sideways (phones). Names the elements that do, when some do. */
export async function expectNoHorizontalOverflow(page: Page): Promise<void> {
  expect(await horizontalOverflow(page)).toEqual([]);
}
