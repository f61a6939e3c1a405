// Browser test of the start page: Debian's Chromium via playwright-core, on a phone-sized viewport.
// Started by tests/it/browser.rs, which runs the server and passes its URL in SEALFORM_URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const BASE = process.env.SEALFORM_URL;
const ARTIFACTS = process.env.SEALFORM_ARTIFACTS ?? new URL('./artifacts/', import.meta.url).pathname;
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

assert.ok(BASE, 'SEALFORM_URL must name the running server');
mkdirSync(ARTIFACTS, { recursive: true });

async function withBrowser(fn) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS });
  try { return await fn(browser); } finally { await browser.close(); }
}

test('start page renders on a phone under the strict CSP, with no violations', async () => {
  await withBrowser(async (browser) => {
    const page = await browser.newPage(PHONE);
    const problems = [];
    page.on('console', (msg) => { if (msg.type() === 'error') problems.push(msg.text()); });
    page.on('pageerror', (err) => problems.push(String(err)));
    const response = await page.goto(BASE + '/');
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-security-policy'], /default-src 'self'/);
    await page.getByRole('heading', { level: 1, name: 'Sealform is running' }).waitFor();
    // The stylesheet loaded under the policy: the header bar has its background.
    const background = await page.locator('header.bar').evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.notEqual(background, 'rgba(0, 0, 0, 0)');
    // Nothing overflows sideways on a narrow screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone`);
    await page.screenshot({ path: ARTIFACTS + 'home-phone.png', fullPage: true });
    assert.deepEqual(problems, []);
  });
});

test('start page has no axe-core accessibility violations', async () => {
  await withBrowser(async (browser) => {
    // axe is injected as a script, which the page's own CSP rightly forbids; bypass it for the audit only.
    const context = await browser.newContext({ ...PHONE, bypassCSP: true });
    const page = await context.newPage();
    await page.goto(BASE + '/');
    await page.addScriptTag({ content: AXE_SOURCE });
    const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    const summary = results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    assert.deepEqual(summary, []);
  });
});
