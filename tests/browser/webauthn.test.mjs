// Browser test of passkeys with Chromium's virtual authenticator (CDP WebAuthn domain: CTAP2, internal transport,
// user verification): sign in → add a passkey on /console/mfa → sign out → sign in with the password → "Use your
// passkey" → the console. WebAuthn needs a secure context and a domain as RP ID (never an IP address), so this test
// opens the server as http://localhost:PORT, its public URL (tests/it/browser.rs starts it so).
// Started by tests/it/browser.rs with SEALFORM_WEBAUTHN_URL, SEALFORM_PASSKEY_EMAIL and SEALFORM_PASSWORD.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARTIFACTS, launch } from './support.mjs';

const BASE = process.env.SEALFORM_WEBAUTHN_URL;
const EMAIL = process.env.SEALFORM_PASSKEY_EMAIL;
const PASSWORD = process.env.SEALFORM_PASSWORD;

assert.ok(BASE && EMAIL && PASSWORD, 'SEALFORM_WEBAUTHN_URL, SEALFORM_PASSKEY_EMAIL and SEALFORM_PASSWORD must be set');

async function signIn(page) {
  await page.goto(BASE + '/login');
  await page.getByLabel('E-mail').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('a passkey added on the console completes the next sign-in', async () => {
  const browser = await launch();
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = [];
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });

    await signIn(page);
    await page.waitForURL(BASE + '/console');
    await page.goto(BASE + '/console/mfa');
    await page.getByLabel('Name of the key').fill('Laptop');
    await page.getByRole('button', { name: 'Add a passkey / security key' }).click();
    await page.locator('.passkey-name', { hasText: 'Laptop' }).waitFor();
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1, 'the authenticator holds one credential');
    assert.equal(credentials[0].rpId, new URL(BASE).hostname);
    await page.screenshot({ path: ARTIFACTS + 'webauthn-enrolled.png', fullPage: true });

    await page.goto(BASE + '/console');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(BASE + '/login');

    await signIn(page);
    await page.waitForURL(BASE + '/login/mfa');
    await page.getByRole('button', { name: 'Use your passkey' }).click();
    await page.waitForURL(BASE + '/console');
    assert.match(await page.locator('main').innerText(), new RegExp(EMAIL.replace('.', '\\.')));
    const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.ok(after.credentials[0].signCount >= 1, 'the authenticator signed');
    assert.deepEqual(errors.filter((e) => /Content Security Policy/.test(e)), [], 'no CSP violation');
  } finally {
    await browser.close();
  }
});
