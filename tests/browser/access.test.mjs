// Browser test of access to a form (issue #9): a nurse without a grant is refused and asks for access with a
// reason; the owner approves it on the access page and the nurse gets in. Then break-glass: the owner gives the nurse
// the emergency right (after confirming their password), revokes the grant, and the nurse opens emergency access
// with a reason; the owner's console shows the alert and the emergency log the reason. axe-core checks the request,
// break-glass and log pages. Needs SEALFORM_URL, SEALFORM_EMAIL and SEALFORM_PASSWORD (an owner) and
// SEALFORM_NURSE_EMAIL (a reviewer with the same password), as the other browser tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARTIFACTS, DESKTOP, PHONE, launch, axeViolations, signIn } from './support.mjs';

const BASE = process.env.SEALFORM_URL;
const OWNER = process.env.SEALFORM_EMAIL;
const NURSE = process.env.SEALFORM_NURSE_EMAIL;
const PASSWORD = process.env.SEALFORM_PASSWORD;

assert.ok(BASE && OWNER && NURSE && PASSWORD, 'SEALFORM_URL, SEALFORM_EMAIL, SEALFORM_NURSE_EMAIL and SEALFORM_PASSWORD must be set');

async function noViolations(page, what) {
  assert.deepEqual(await axeViolations(page), [], `axe-core on ${what}`);
}

test('a nurse asks for access and is approved, then breaks the glass in an emergency', async () => {
  const browser = await launch();
  try {
    const owner = await browser.newPage({ ...DESKTOP, bypassCSP: true });
    const nurse = await browser.newPage({ ...PHONE, bypassCSP: true });
    await signIn(owner, BASE, OWNER, PASSWORD);
    await owner.goto(BASE + '/console/forms');
    await owner.getByLabel('Title').fill('Ward round notes');
    await owner.getByRole('button', { name: 'Create form' }).click();
    await owner.waitForURL(/notice=created/);
    const formUrl = owner.url().split('?')[0];
    const submissions = formUrl + '/submissions';

    // Refused, with the way to ask.
    await signIn(nurse, BASE, NURSE, PASSWORD);
    const refused = await nurse.goto(submissions);
    assert.equal(refused.status(), 403);
    await nurse.getByRole('link', { name: 'ask for access' }).click();
    await nurse.waitForURL(/request-access$/);
    await noViolations(nurse, 'the request page');
    assert.equal(await nurse.getByRole('link', { name: 'open emergency access' }).count(), 0, 'no emergency right yet');
    await nurse.getByLabel('Reason').fill('I take over the ward round on Monday');
    await nurse.getByRole('button', { name: 'Send request' }).click();
    await nurse.getByText('Your request was sent').waitFor();

    // The owner approves.
    await owner.goto(formUrl + '/access');
    const request = owner.locator('.requests li', { hasText: NURSE });
    assert.match(await request.innerText(), /ward round on Monday/);
    await request.getByRole('button', { name: 'Approve' }).click();
    await owner.waitForURL(formUrl + '/access');
    assert.match(await owner.locator('table').innerText(), new RegExp(NURSE.replace('.', '\\.')));
    assert.equal((await nurse.goto(submissions)).status(), 200, 'approved: the nurse gets in');

    // The owner gives the emergency right (confirming the password first) and revokes the grant.
    await owner.goto(BASE + '/console/users');
    const give = () => owner.getByRole('button', { name: `Give emergency access right to ${NURSE}` }).click();
    await give();
    await owner.waitForURL(/\/console\/reauth/);
    await owner.getByLabel('Password').fill(PASSWORD);
    await owner.getByRole('button', { name: 'Confirm' }).click();
    await owner.waitForURL(/\/console\/users/);
    await give();
    await owner.waitForURL(/notice=emergency/);
    await owner.goto(formUrl + '/access');
    await owner.locator('tr', { hasText: NURSE }).getByRole('button', { name: 'Revoke' }).click();
    await owner.waitForURL(formUrl + '/access');
    assert.equal((await nurse.goto(submissions)).status(), 403, 'revoked');

    // In an emergency the nurse opens access at once, with a reason.
    await nurse.goto(formUrl + '/request-access');
    await nurse.getByRole('link', { name: 'open emergency access' }).click();
    await nurse.waitForURL(/break-glass$/);
    await noViolations(nurse, 'the break-glass page');
    await nurse.screenshot({ path: ARTIFACTS + 'break-glass-phone.png', fullPage: true });
    await nurse.getByLabel('Why do you need access now?').fill('Patient deteriorating on bed 4, need the notes');
    await nurse.getByLabel('For how long').selectOption({ label: '30 minutes' });
    await nurse.getByRole('button', { name: 'Open emergency access' }).click();
    await nurse.waitForURL(submissions);

    // The owner sees the alert on the console and the reason in the emergency log.
    await owner.goto(BASE + '/console');
    const alert = owner.getByRole('alert');
    assert.match(await alert.innerText(), /Emergency access is open/);
    await alert.getByRole('link', { name: 'Review emergency access' }).click();
    await owner.waitForURL(BASE + '/console/break-glass');
    const log = await owner.locator('table').innerText();
    assert.match(log, /Patient deteriorating on bed 4/);
    assert.match(log, /open until/);
    await noViolations(owner, 'the emergency log');
    await owner.goto(formUrl + '/access');
    assert.match(await owner.locator('tr', { hasText: NURSE }).innerText(), /emergency \(break-glass\)/);
  } finally {
    await browser.close();
  }
});
