// Browser test of joining and two-step sign-in: open the e-mailed invitation → set a password → sign in → turn on
// TOTP (QR + key) → sign out → sign in with a TOTP code.
// Started by tests/it/browser.rs with SEALFORM_URL, SEALFORM_INVITE_LINK, SEALFORM_MFA_EMAIL and SEALFORM_PASSWORD.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { ARTIFACTS, PHONE, launch } from './support.mjs';

const BASE = process.env.SEALFORM_URL;
const EMAIL = process.env.SEALFORM_MFA_EMAIL;
const PASSWORD = process.env.SEALFORM_PASSWORD;
const INVITE = process.env.SEALFORM_INVITE_LINK;

assert.ok(BASE && EMAIL && PASSWORD && INVITE, 'SEALFORM_URL, SEALFORM_INVITE_LINK, SEALFORM_MFA_EMAIL and SEALFORM_PASSWORD must be set');

// RFC 6238 as an authenticator app computes it: HMAC-SHA1 over the 30-second step, dynamic truncation, 6 digits.
function totp(base32, offsetSteps = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const step = Math.floor(Date.now() / 1000 / 30) + offsetSteps;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return code.toString().padStart(6, '0');
}

async function signIn(page) {
  await page.goto(BASE + '/login');
  await page.getByLabel('E-mail').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('an invitee sets a password, turns on TOTP and then signs in with a code', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage(PHONE);
    await page.goto(INVITE);
    await page.getByRole('heading', { name: 'Join Sealform' }).waitFor();
    await page.getByLabel(/Choose a password/).fill(PASSWORD);
    await page.getByRole('button', { name: 'Accept invitation' }).click();
    await page.waitForURL(BASE + '/login');
    await signIn(page);
    await page.waitForURL(BASE + '/console');
    await page.getByRole('link', { name: 'Two-step sign-in' }).click();
    await page.locator('.qr svg').waitFor();
    const key = (await page.locator('#totp-key').innerText()).trim();
    await page.screenshot({ path: ARTIFACTS + 'mfa-enrol-phone.png', fullPage: true });
    await page.getByLabel('Code from the app').fill(totp(key));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    assert.equal(await page.locator('.codes li').count(), 10);

    await page.goto(BASE + '/console');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(BASE + '/login');

    await signIn(page);
    await page.waitForURL(BASE + '/login/mfa');
    // The enrolment used the current step; an authenticator shows the next one 30 s later: use it now (one step
    // of drift is accepted), so the test does not wait.
    await page.getByLabel('Code').fill(totp(key, 1));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(BASE + '/console');
    assert.match(await page.locator('main').innerText(), new RegExp(EMAIL.replace('.', '\\.')));
  } finally {
    await browser.close();
  }
});
