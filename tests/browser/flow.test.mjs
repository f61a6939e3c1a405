// The whole journey in a browser: an owner builds a form with a condition and an upload and publishes it; a patient
// fills it in on a phone; the owner finds it in the inbox, edits it, and exports CSV, which must hold what was
// entered (and the edit). Screenshots of the builder, the public page and the inbox are saved as artifacts.
// Needs SEALFORM_URL, SEALFORM_EMAIL and SEALFORM_PASSWORD (an owner), as the other browser tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ARTIFACTS, PHONE, DESKTOP, launch, signIn as signInWith } from './support.mjs';

const BASE = process.env.SEALFORM_URL;
const EMAIL = process.env.SEALFORM_EMAIL;
const PASSWORD = process.env.SEALFORM_PASSWORD;

assert.ok(BASE && EMAIL && PASSWORD, 'SEALFORM_URL, SEALFORM_EMAIL and SEALFORM_PASSWORD must be set');

function signIn(page) {
  return signInWith(page, BASE, EMAIL, PASSWORD);
}

async function addQuestion(page, type, label) {
  await page.locator('#new-type').selectOption({ label: type });
  await page.locator('#new-text').fill(label);
  await page.getByRole('button', { name: 'Add question' }).click();
  await page.waitForURL(/notice=added/);
}

async function saveQuestion(page, qid, edit) {
  const q = page.locator(`#q-${qid}`);
  await q.locator('summary').click();
  await edit(q);
  await q.getByRole('button', { name: 'Save question' }).click();
  await page.waitForURL(/notice=saved/);
}

/// Parses RFC 4180 CSV (every cell quoted, as the export writes it).
function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') { quoted = false; } else { cell += c; }
    } else if (c === '"') { quoted = true; } else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\n') {
      row.push(cell); rows.push(row); row = []; cell = '';
    } else if (c !== '\r') { cell += c; }
  }
  return rows;
}

test('build, fill on a phone, find in the inbox, edit, export CSV', async () => {
  const browser = await launch();
  try {
    const staff = await (await browser.newContext({ ...DESKTOP, acceptDownloads: true })).newPage();
    const errors = [];
    staff.on('pageerror', (err) => errors.push(String(err)));
    await signIn(staff);

    // Build: a name, a yes/no question, a follow-up shown only on "Yes", an upload.
    await staff.goto(BASE + '/console/forms');
    await staff.getByLabel('Title').fill('Flow intake');
    await staff.getByRole('button', { name: 'Create form' }).click();
    await staff.waitForURL(/notice=created/);
    const builder = staff.url().replace(/\?.*$/, '');
    const formId = builder.split('/').pop();
    await addQuestion(staff, 'Short text', 'Full name');
    await addQuestion(staff, 'Single choice', 'Any allergies?');
    await addQuestion(staff, 'Short text', 'Which allergies?');
    await addQuestion(staff, 'File upload', 'Referral letter');
    await saveQuestion(staff, '1', async (q) => { await q.getByLabel('Required').check(); });
    await saveQuestion(staff, '2', async (q) => { await q.getByLabel('Options, one per line').fill('Yes\nNo'); });
    await saveQuestion(staff, '3', async (q) => {
      await q.getByLabel('Question', { exact: true }).selectOption('2');
      await q.getByLabel('has the answer').fill('Yes');
    });
    await saveQuestion(staff, '4', async (q) => { await q.getByLabel(/^Allowed file types/).fill('pdf'); });
    await staff.getByRole('button', { name: 'Publish' }).click();
    await staff.waitForURL(/notice=status/);
    await staff.screenshot({ path: ARTIFACTS + 'flow-builder.png', fullPage: true });
    const publicUrl = `${BASE}/f/${formId}`;

    // Fill in on a phone: the follow-up appears only after "Yes".
    const patient = await (await browser.newContext(PHONE)).newPage();
    await patient.goto(publicUrl);
    const followUp = patient.getByLabel('Which allergies?');
    assert.equal(await followUp.isVisible(), false, 'hidden until "Yes"');
    await patient.getByLabel('Full name').fill('Flow Patient');
    await patient.getByLabel('Yes', { exact: true }).check();
    await followUp.waitFor({ state: 'visible' });
    await followUp.fill('Latex');
    await patient.getByLabel('Referral letter').setInputFiles({
      name: 'referral.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4 referral letter'),
    });
    await patient.screenshot({ path: ARTIFACTS + 'flow-public-phone.png', fullPage: true });
    await patient.getByRole('button', { name: /Submit|Send/ }).click();
    await patient.waitForURL(/\/thanks$/);

    // Find it in the inbox and open it.
    await staff.goto(`${BASE}/console/forms/${formId}/submissions`);
    await staff.screenshot({ path: ARTIFACTS + 'flow-inbox.png', fullPage: true });
    await staff.getByRole('link', { name: /^Open/ }).first().click();
    await staff.waitForURL(/\/console\/submissions\/[0-9a-f-]{36}$/);
    const view = await staff.locator('main').innerText();
    assert.match(view, /Flow Patient/);
    assert.match(view, /Latex/);
    assert.match(view, /referral\.pdf/);

    // Edit: a new revision.
    await staff.getByRole('link', { name: 'Edit' }).click();
    await staff.getByLabel('Which allergies?').fill('Latex, nuts');
    await staff.getByRole('button', { name: 'Save as a new revision' }).click();
    await staff.waitForURL(/\/console\/submissions\/[0-9a-f-]{36}$/);
    assert.match(await staff.locator('main').innerText(), /Latex, nuts/);

    // Export CSV after the step-up, and compare with what was entered.
    await staff.goto(`${BASE}/console/forms/${formId}/export`);
    await staff.getByRole('button', { name: 'Download' }).click();
    await staff.waitForURL(/\/console\/reauth/);
    await staff.getByLabel('Password').fill(PASSWORD);
    await staff.getByRole('button', { name: /Confirm|Continue/ }).click();
    await staff.waitForURL(new RegExp(`/console/forms/${formId}/export$`));
    const [download] = await Promise.all([
      staff.waitForEvent('download'),
      staff.getByRole('button', { name: 'Download' }).click(),
    ]);
    const rows = parseCsv(readFileSync(await download.path(), 'utf8'));
    assert.equal(rows.length, 2, JSON.stringify(rows));
    const record = Object.fromEntries(rows[0].map((header, i) => [header, rows[1][i]]));
    assert.equal(record['Full name'], 'Flow Patient');
    assert.equal(record['Any allergies?'], 'Yes');
    assert.equal(record['Which allergies?'], 'Latex, nuts');
    assert.equal(record['Referral letter'], 'referral.pdf');
    assert.equal(record.status, 'read');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
