// Browser test of signing in: login form → console → audit trail → sign out, on a phone, with axe-core checks.
// Started by tests/it/browser.rs, which bootstraps an owner and passes SEALFORM_URL, SEALFORM_EMAIL, SEALFORM_PASSWORD.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARTIFACTS, PHONE, launch, axeViolations } from './support.mjs';

const BASE = process.env.SEALFORM_URL;
const EMAIL = process.env.SEALFORM_EMAIL;
const PASSWORD = process.env.SEALFORM_PASSWORD;

assert.ok(BASE && EMAIL && PASSWORD, 'SEALFORM_URL, SEALFORM_EMAIL and SEALFORM_PASSWORD must be set');

test('an owner signs in, reads the audit trail and signs out', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage(PHONE);
    const errors = [];
    page.on('pageerror', (err) => errors.push(String(err)));

    await page.goto(BASE + '/login');
    await page.getByLabel('E-mail').fill(EMAIL);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /wrong, or the account is locked/);

    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(BASE + '/console');
    assert.match(await page.locator('main').innerText(), new RegExp(EMAIL.replace('.', '\\.')));
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === '__Host-sealform');
    assert.ok(session && session.httpOnly && session.secure && session.sameSite === 'Lax', JSON.stringify(session));
    await page.screenshot({ path: ARTIFACTS + 'console-phone.png', fullPage: true });

    await page.getByRole('link', { name: 'Audit trail' }).click();
    await page.waitForURL(BASE + '/console/audit');
    const table = await page.locator('table').innerText();
    assert.match(table, /login\.success/);
    assert.match(table, /login\.failure/);
    await page.screenshot({ path: ARTIFACTS + 'audit-phone.png', fullPage: true });

    await page.goto(BASE + '/console');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(BASE + '/login');
    await page.goto(BASE + '/console');
    assert.equal(new URL(page.url()).pathname, '/login', 'signed out: the console sends us to the login page');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('the login and audit pages have no axe-core violations', async () => {
  const browser = await launch();
  try {
    // axe is injected as a script, which the pages' CSP rightly forbids; bypass it for the audit only.
    const context = await browser.newContext({ ...PHONE, bypassCSP: true });
    const page = await context.newPage();
    await page.goto(BASE + '/login');
    assert.deepEqual(await axeViolations(page), [], 'login page');
    await page.getByLabel('E-mail').fill(EMAIL);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(BASE + '/console');
    assert.deepEqual(await axeViolations(page), [], 'console');
    await page.goto(BASE + '/console/audit');
    assert.deepEqual(await axeViolations(page), [], 'audit page');
  } finally {
    await browser.close();
  }
});
