// Browser test of the form builder: a new form, questions added and edited (a condition on an earlier answer),
// reordered by drag and drop and by the Move buttons, published; on a desktop and a phone, with axe-core checks and
// no console errors (CSP violations show as errors). Needs SEALFORM_URL, SEALFORM_EMAIL and SEALFORM_PASSWORD (an
// owner), as the other browser tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARTIFACTS, PHONE, DESKTOP, launch, axeViolations, signIn as signInWith } from './support.mjs';

const BASE = process.env.SEALFORM_URL;
const EMAIL = process.env.SEALFORM_EMAIL;
const PASSWORD = process.env.SEALFORM_PASSWORD;

assert.ok(BASE && EMAIL && PASSWORD, 'SEALFORM_URL, SEALFORM_EMAIL and SEALFORM_PASSWORD must be set');

function signIn(page) {
  return signInWith(page, BASE, EMAIL, PASSWORD);
}

async function labels(page) {
  return page.locator('#questions .q-label').allInnerTexts();
}

async function addQuestion(page, type, label) {
  await page.locator('#new-type').selectOption({ label: type });
  await page.locator('#new-text').fill(label);
  await page.getByRole('button', { name: 'Add question' }).click();
  await page.waitForURL(/notice=added/);
}

test('an owner builds, reorders and publishes a form', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage(DESKTOP);
    const errors = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
    await signIn(page);
    await page.getByRole('link', { name: 'Forms' }).click();
    await page.waitForURL(BASE + '/console/forms');
    await page.getByLabel('Title').fill('Browser intake');
    await page.getByRole('button', { name: 'Create form' }).click();
    await page.waitForURL(/notice=created/);

    await addQuestion(page, 'Short text', 'Your name');
    await addQuestion(page, 'Single choice', 'Are you pregnant?');
    await addQuestion(page, 'Number', 'How many weeks?');
    await addQuestion(page, 'File upload', 'Referral letter');
    assert.deepEqual(await labels(page), ['Your name', 'Are you pregnant?', 'How many weeks?', 'Referral letter']);

    // Edit the number: a range and a condition on the radio.
    const weeks = page.locator('#q-3');
    await weeks.locator('summary').click();
    await weeks.getByLabel(/^Minimum/).fill('1');
    await weeks.getByLabel(/^Maximum/).fill('42');
    await weeks.getByLabel('Question', { exact: true }).selectOption('2');
    await weeks.getByLabel('has the answer').fill('Option 1');
    await weeks.getByRole('button', { name: 'Save question' }).click();
    await page.waitForURL(/notice=saved/);
    assert.match(await page.locator('#q-3').innerText(), /shown when question 2 is/);

    // A bad pattern comes back on the page, nothing saved.
    const name = page.locator('#q-1');
    await name.locator('summary').click();
    await name.getByLabel(/^Pattern/).fill('(');
    await name.getByRole('button', { name: 'Save question' }).click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /not a valid regular expression/);
    await page.screenshot({ path: ARTIFACTS + 'builder-error-desktop.png', fullPage: true });

    // Drag the upload to the top by its handle.
    await page.goto(page.url().replace(/\/questions\/.*$/, '').replace(/\?.*$/, ''));
    await page.locator('#q-4 .handle').dragTo(page.locator('#q-1'), { targetPosition: { x: 40, y: 4 } });
    await page.waitForURL(/notice=moved/);
    assert.deepEqual(await labels(page), ['Referral letter', 'Your name', 'Are you pregnant?', 'How many weeks?']);
    // And the name back up with its Move button.
    await page.locator('#q-1').getByRole('button', { name: /Move up/ }).click();
    await page.waitForURL(/notice=moved/);
    assert.deepEqual(await labels(page), ['Your name', 'Referral letter', 'Are you pregnant?', 'How many weeks?']);

    await page.getByRole('button', { name: 'Publish' }).click();
    await page.waitForURL(/notice=status/);
    assert.match(await page.locator('main').innerText(), /Published · version/);
    assert.equal(await page.getByAltText('QR code for the form link').count(), 1);
    await page.screenshot({ path: ARTIFACTS + 'builder-desktop.png', fullPage: true });
    assert.deepEqual(errors.filter((e) => !/status of (404|422)/.test(e)), []);

    const phone = await browser.newPage(PHONE);
    await signIn(phone);
    await phone.goto(page.url());
    await phone.screenshot({ path: ARTIFACTS + 'builder-phone.png', fullPage: true });
  } finally {
    await browser.close();
  }
});

test('the forms list and the builder have no axe-core violations', async () => {
  const browser = await launch();
  try {
    // axe is injected as a script, which the pages' CSP rightly forbids; bypass it for the audit only.
    const context = await browser.newContext({ ...PHONE, bypassCSP: true });
    const page = await context.newPage();
    await signIn(page);
    await page.goto(BASE + '/console/forms');
    assert.deepEqual(await axeViolations(page), [], 'forms list');
    await page.getByRole('link', { name: 'Browser intake' }).first().click();
    await page.waitForURL(/\/console\/forms\/[0-9a-f-]{36}$/);
    await page.locator('#q-3 summary').click();
    assert.deepEqual(await axeViolations(page), [], 'builder');
  } finally {
    await browser.close();
  }
});
