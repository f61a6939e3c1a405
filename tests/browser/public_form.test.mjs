// Browser test of the public fill page on a phone: the demo's patient intake (a conditional question, two pages, the
// error summary) and its consent form (the signature pad), with axe-core checks and screenshots.
// Needs SEALFORM_URL and the demo forms' addresses, SEALFORM_INTAKE_URL and SEALFORM_CONSENT_URL (as `sealform demo`
// prints them); skipped without them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARTIFACTS, PHONE, launch, axeViolations } from './support.mjs';

const BASE = process.env.SEALFORM_URL;
const INTAKE = process.env.SEALFORM_INTAKE_URL;
const CONSENT = process.env.SEALFORM_CONSENT_URL;
const SKIP = !(BASE && INTAKE && CONSENT) && 'SEALFORM_INTAKE_URL and SEALFORM_CONSENT_URL are not set';


// The page is framable and so sets its own CSP; axe is injected as a script, so the audit context bypasses CSP.
async function phone(browser) {
  const context = await browser.newContext({ ...PHONE, bypassCSP: true });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  return { page, errors };
}

test('a patient fills the intake on a phone: conditional question, pages, errors, confirmation', { skip: SKIP },
  async () => {
    const browser = await launch();
    try {
      const { page, errors } = await phone(browser);
      await page.goto(INTAKE);
      const allergies = page.getByRole('group', { name: 'Which allergies?' });
      assert.equal(await allergies.isVisible(), false, 'the conditional question starts hidden');
      assert.equal(await page.getByLabel('Photo of your insurance card').isVisible(), false, 'page 2 starts hidden');

      // Next with nothing filled is allowed; the server decides. Sending empty shows the errors, on page 1.
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByRole('button', { name: 'Send' }).click();
      await page.getByRole('alert').waitFor();
      assert.match(await page.getByRole('alert').innerText(), /Your name: First name is required/);
      assert.equal(await page.getByLabel('First name').getAttribute('aria-invalid'), 'true');
      assert.ok(await page.getByLabel('First name').isVisible(), 'the page with the first error is shown');
      assert.deepEqual(await axeViolations(page), [], 'the form with errors');
      await page.screenshot({ path: ARTIFACTS + 'public-form-errors-phone.png', fullPage: true });

      await page.getByLabel('First name').fill('Test');
      await page.getByLabel('Last name').fill('Patient');
      await page.getByLabel('Date of birth').fill('1990-01-31');
      await page.getByLabel('E-mail').fill('test.patient@example.org');
      await page.getByLabel('Reason for your visit').fill('A browser test');
      await page.getByRole('radio', { name: 'Yes' }).check();
      assert.ok(await allergies.isVisible(), 'answering Yes shows the allergies question');
      await page.getByRole('checkbox', { name: 'Latex' }).check();
      assert.deepEqual(await axeViolations(page), [], 'page 1 with the conditional question shown');
      await page.screenshot({ path: ARTIFACTS + 'public-form-phone.png', fullPage: true });
      await page.getByRole('radio', { name: 'No' }).check();
      assert.equal(await allergies.isVisible(), false, 'answering No hides it again');
      await page.getByRole('radio', { name: 'Yes' }).check();

      await page.getByRole('button', { name: 'Next' }).click();
      assert.ok(await page.getByLabel('Photo of your insurance card').isVisible());
      assert.equal(await page.getByLabel('First name').isVisible(), false);
      await page.getByRole('radio', { name: '3', exact: true }).check();
      await page.getByLabel('Photo of your insurance card').setInputFiles({
        name: 'card.png', mimeType: 'image/png', buffer: Buffer.from('not really a png, but a file'),
      });
      await page.getByRole('button', { name: 'Send' }).click();
      await page.waitForURL(/\/thanks$/);
      assert.match(await page.locator('h1').innerText(), /Thank you/);
      assert.deepEqual(await axeViolations(page), [], 'the confirmation');
      await page.screenshot({ path: ARTIFACTS + 'public-form-thanks-phone.png', fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });

test('a patient signs the consent form on the signature pad', { skip: SKIP }, async () => {
  const browser = await launch();
  try {
    const { page, errors } = await phone(browser);
    await page.goto(CONSENT);
    await page.getByLabel('First name').fill('Test');
    await page.getByLabel('Last name').fill('Patient');
    await page.getByLabel(/^Date\b/).fill('2026-11-23');
    const pad = page.getByRole('img', { name: /Signature pad/ });
    const box = await pad.boundingBox();
    await page.mouse.move(box.x + 20, box.y + 40);
    await page.mouse.down();
    for (let i = 1; i <= 12; i += 1) await page.mouse.move(box.x + 20 + i * 20, box.y + 40 + (i % 2) * 30);
    await page.mouse.up();
    await page.waitForFunction(() => document.querySelector('[data-signature] input[type=file]').files.length === 1);
    const type = await page.evaluate(() => document.querySelector('[data-signature] input[type=file]').files[0].type);
    assert.equal(type, 'image/png');
    await page.getByRole('checkbox', { name: 'I have read and agree to the above' }).check();
    assert.deepEqual(await axeViolations(page), [], 'the consent form');
    await page.screenshot({ path: ARTIFACTS + 'public-consent-phone.png', fullPage: true });
    await page.getByRole('button', { name: 'Sign', exact: true }).click();
    await page.waitForURL(/\/thanks$/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
