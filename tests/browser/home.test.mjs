// Browser test of the start page: Debian's Chromium via playwright-core, on a phone-sized viewport.
// Started by tests/it/browser.rs, which runs the server and passes its URL in SEALFORM_URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARTIFACTS, PHONE, launch, axeViolations } from './support.mjs';

const BASE = process.env.SEALFORM_URL;

assert.ok(BASE, 'SEALFORM_URL must name the running server');

async function withBrowser(fn) {
  const browser = await launch();
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
    assert.deepEqual(await axeViolations(page), []);
  });
});
