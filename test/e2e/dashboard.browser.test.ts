import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Code in page.evaluate runs in the browser; these are its globals, typed loosely for this file only.
declare const window: Record<string, unknown> & { innerWidth: number };
declare const document: { documentElement: { scrollWidth: number } };
import { ROOT } from '../../scripts/stack.ts';
import { useBannerServer } from '../helpers/banner-server.ts';
import { useStack } from '../helpers/e2e.ts';

/**
 * The dashboard in Debian's headless Chromium (playwright-core, no browser download) against the real stack.
 * The broken scanner is a FAKE nmap (test/fakes/nmap-crashes.sh), the one fault we cannot cause otherwise.
 * Screenshots go to test-artifacts/ (git-ignored).
 */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts');
const stack = useStack();
const banner = useBannerServer();
let browser: Browser;

// Skipped only where Debian's chromium is not installed: the README promises that `npm test` passes on a machine
// with just Node and nmap, and this project never downloads a browser. `.ci/run` installs chromium, so CI runs it.
if (!existsSync(CHROMIUM))
  console.warn(`dashboard browser tests skipped: no ${CHROMIUM} (apt-get install chromium; .ci/run does)`);

describe.skipIf(!existsSync(CHROMIUM))('dashboard in headless Chromium', () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  async function newPage(width = 1280, height = 900): Promise<{ page: Page; problems: string[] }> {
    const context = await browser.newContext({ viewport: { width, height } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(`${m.text()} (${m.location().url})`));
    page.on('pageerror', (e) => problems.push(String(e)));
    return { page, problems };
  }

  async function logIn(page: Page): Promise<void> {
    await page.goto(`${stack.url}/dashboard`);
    // Keyboard only: the token field gets focus by itself, Enter submits.
    await page.waitForFunction(
      () =>
        (globalThis as unknown as { document: { activeElement: { id: string } | null } }).document.activeElement?.id ===
        'token',
    );
    await page.keyboard.type(stack.admin);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#live[data-state="live"]', { timeout: 15_000 });
  }

  it('refuses a bad login and sets no session', async () => {
    const { page, problems } = await newPage();
    await page.goto(`${stack.url}/dashboard`);
    await page.fill('#token', 'sgt_0notavalidtokennotavalidtokennotavalidtoken1');
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('[role=alert]')).toContain('not a valid admin token');
    expect((await page.context().cookies()).map((c) => c.name)).not.toContain('sg_session');
    // A scan token is not an admin token either.
    await page.fill('#token', await stack.mintToken('scan'));
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('[role=alert]')).toContain('not a valid admin token');
    expect((await page.request.get(`${stack.url}/dashboard/events`)).status()).toBe(401);
    expect(problems.filter((p) => !/401/.test(p))).toEqual([]);
    await page.close();
  });

  it('shows runners, breakers and scans live, acts on them, and refuses an action without CSRF', async () => {
    const { page, problems } = await newPage();
    await logIn(page);
    await page.evaluate(() => (window.notReloaded = true));
    const stillSamePage = () => page.evaluate(() => window.notReloaded === true);

    // A runner that connects appears online without a reload.
    await stack.readyRunner('browser-good');
    await page.waitForSelector('[data-runner="browser-good"] .state-closed', { timeout: 10_000 });
    expect(await page.textContent('[data-runner="browser-good"]')).toContain('127.0.0.0/8');
    expect(await stillSamePage()).toBe(true);

    // A runner with a broken nmap: its breaker turns OPEN after one failure (threshold 1), without a reload.
    await stack.api(stack.admin, 'PUT', '/v1/policy', { breaker: { failureThreshold: 1 } });
    await stack.readyRunner('browser-broken', {
      nmap: join(ROOT, 'test', 'fakes', 'nmap-crashes.sh'),
      networks: ['127.77.0.0/16'],
    });
    const token = await stack.mintToken('scan', 'browser-user');
    const failed = await stack.api(token, 'POST', '/v1/scans', { target: '127.77.0.1', args: '-sT -p 22', wait: 30 });
    expect(failed.body.scan.status).toBe('failed');
    const openCard = '[data-breaker="browser-broken"][data-state="OPEN"]';
    await page.waitForSelector(openCard, { timeout: 10_000 });
    expect(await page.textContent(openCard)).toMatch(/Half-opens in \d+ s/);
    expect(await stillSamePage()).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-breaker-open-1280.png'), fullPage: true });

    // Without the CSRF token, an action is refused and changes nothing.
    const runnerId = (await stack.api(stack.admin, 'GET', '/v1/runners')).body.runners.find(
      (r: any) => r.name === 'browser-broken',
    ).id;
    // (From a second tab of the same session, so the refusal's console line stays out of this page's log.)
    const probe = await page.context().newPage();
    await probe.goto(`${stack.url}/dashboard`);
    const forged = await probe.evaluate(async (target) => {
      const res = await fetch('/dashboard/actions', {
        method: 'POST',
        body: new URLSearchParams({ action: 'breaker-close', target }),
      });
      return { status: res.status, body: (await res.json()) as { error: { type: string } } };
    }, runnerId);
    await probe.close();
    expect(forged.status).toBe(403);
    expect(forged.body.error.type).toBe('forbidden');
    expect(
      (await stack.api(stack.admin, 'GET', '/v1/breakers')).body.breakers.find(
        (b: any) => b.runner === 'browser-broken',
      ).state,
    ).toBe('OPEN');

    // Reset it from the page: confirmed, done, audited.
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
    await page.click(`${openCard} form:has(input[value="breaker-reset"]) button`);
    await page.waitForSelector('[data-breaker="browser-broken"][data-state="CLOSED"]');
    expect(dialogs).toEqual(['Reset the breaker of browser-broken to CLOSED?']);
    expect(await page.textContent('[role=status]')).toContain('Breaker reset');
    const audit = (await stack.api(stack.admin, 'GET', '/v1/audit?limit=20')).body;
    expect(JSON.stringify(audit)).toMatch(/bootstrap admin \(dashboard\)/);

    // A scan started elsewhere shows up, then completes, without a reload; keyboard focus survives the updates.
    await page.evaluate(() => (window.notReloaded = true));
    await page.focus('[data-runner="browser-good"] button');
    const runnersBefore = await page.innerHTML('#runners');
    const started = await stack.api(token, 'POST', '/v1/scans', {
      target: '127.0.0.1',
      args: `-sT -sV -p ${banner.port()},1-20 --scan-delay 100ms`,
    });
    const id = started.body.scan.id as string;
    await page.waitForSelector(`[data-scan="${id}"]`, { timeout: 10_000 });
    await page.waitForSelector(`[data-scan="${id}"] .status-succeeded`, { timeout: 30_000 });
    expect(await page.textContent(`[data-scan="${id}"]`)).toContain('browser-user');
    expect(await stillSamePage()).toBe(true);
    expect(await page.innerHTML('#runners')).not.toBe(runnersBefore); // the section was replaced…
    const focused = await page.evaluate(() => {
      const el = (
        globalThis as unknown as {
          document: {
            activeElement: { tagName: string; closest(s: string): { getAttribute(a: string): string } | null };
          };
        }
      ).document.activeElement;
      return { tag: el.tagName, runner: el.closest('[data-runner]')?.getAttribute('data-runner') };
    });
    expect(focused).toEqual({ tag: 'BUTTON', runner: 'browser-good' }); // …and focus is where it was
    expect(await page.locator('#chart svg rect.bar-succeeded').count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-1280.png'), fullPage: true });

    // A click opens the scan with its output and report.
    await page.click(`a[href="/dashboard/scans/${id}"]`);
    await page.waitForSelector('pre.output');
    expect(await page.textContent('pre.output')).toContain('Nmap done');
    expect(await page.textContent('main table')).toMatch(new RegExp(`${banner.port()}/tcp\\s*ssh`));
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-scan-1280.png'), fullPage: true });
    // An ended scan's page says so and stops listening.
    await page.waitForSelector('#live[data-state="done"]');

    // A running scan's page follows it, progress and all, to the end without a reload (it used to say
    // "connecting…" and keep its first status forever).
    const slow = await stack.api(token, 'POST', '/v1/scans', {
      target: '127.0.0.1',
      args: `-sT -sV -p ${banner.port()},1-100 --scan-delay 200ms`,
    });
    const slowId = slow.body.scan.id as string;
    await stack.waitForScan(token, slowId, (scan) => scan.status === 'running', 30_000);
    await page.goto(`${stack.url}/dashboard/scans/${slowId}`);
    expect(await page.textContent('#scan-status')).toContain('running');
    await page.evaluate(() => (window.notReloaded = true));
    await page.waitForSelector('#live[data-state="live"]', { timeout: 15_000 });
    await page.waitForFunction(
      () =>
        /\d+%/.test(
          (
            globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }
          ).document.querySelector('[data-testid="scan-progress"]')?.textContent ?? '',
        ),
      null,
      { timeout: 30_000 },
    );
    expect(await page.locator('#scan-facts button', { hasText: 'Cancel scan' }).count()).toBe(1);
    await page.waitForSelector('#scan-status .status-succeeded', { timeout: 60_000 });
    expect(await stillSamePage()).toBe(true);
    expect(await page.textContent('pre.output')).toContain('Nmap done');
    expect(await page.textContent('#scan-ports')).toMatch(new RegExp(`${banner.port()}/tcp\\s*ssh`));
    expect(await page.locator('#scan-facts button').count()).toBe(0); // nothing left to cancel
    await page.waitForSelector('#live[data-state="done"]');
    expect(await page.textContent('#live')).toBe('finished');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-scan-live-1280.png'), fullPage: true });

    expect(problems).toEqual([]);
    await page.close();
  }, 180_000);

  it('is readable at phone width, with nothing wider than the screen but scrollable tables', async () => {
    const { page, problems } = await newPage(390, 844);
    await logIn(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-390.png'), fullPage: true });
    // Log out ends the session.
    page.on('dialog', (d) => void d.accept());
    await page.click('header button');
    await page.waitForSelector('#token');
    expect((await page.request.get(`${stack.url}/dashboard/events`)).status()).toBe(401);
    expect(problems).toEqual([]);
    await page.close();
  });
});
