// Passkeys and security keys (WebAuthn) for /console/mfa (add one) and /login/mfa (use one). The server sends
// options with binary fields as base64url and checks everything; this script only carries them to and from
// navigator.credentials. The session's CSRF token goes in the x-csrf-token header.
(function () {
  'use strict';
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function fromB64url(text) {
    const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4);
    const raw = atob(b64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toB64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let raw = '';
    for (let i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function descriptors(list) {
    return (list || []).map(function (d) { return { type: d.type, id: fromB64url(d.id) }; });
  }

  async function call(path, csrf, body) {
    const response = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok) throw new Error(data.detail || data.title || 'The server refused the request.');
    return data;
  }

  function say(text, isError) {
    const status = document.getElementById('passkey-status');
    if (!status) return;
    status.textContent = text;
    status.className = isError ? 'error' : '';
  }

  function credentialJson(credential, fields) {
    const response = {};
    for (const field of fields) {
      if (credential.response[field]) response[field] = toB64url(credential.response[field]);
    }
    return { id: credential.id, rawId: toB64url(credential.rawId), type: credential.type, response: response };
  }

  const add = document.getElementById('passkey-add');
  if (add) {
    const csrf = add.dataset.csrf;
    add.hidden = false;
    document.getElementById('passkey-add-button').addEventListener('click', async function () {
      say('Follow the prompts of your browser or security key…');
      try {
        const options = await call('/console/mfa/webauthn/register/options', csrf);
        options.challenge = fromB64url(options.challenge);
        options.user.id = fromB64url(options.user.id);
        options.excludeCredentials = descriptors(options.excludeCredentials);
        const credential = await navigator.credentials.create({ publicKey: options });
        const name = document.getElementById('passkey-name').value;
        const body = { name: name, credential: credentialJson(credential, ['clientDataJSON', 'attestationObject']) };
        await call('/console/mfa/webauthn/register', csrf, body);
        say('The key was added.');
        window.location.reload();
      } catch (err) {
        say('The key was not added: ' + (err && err.message ? err.message : err), true);
      }
    });
  }

  const login = document.getElementById('passkey-login');
  if (login) {
    const csrf = login.dataset.csrf;
    login.hidden = false;
    document.getElementById('passkey-login-button').addEventListener('click', async function () {
      say('Follow the prompts of your browser or security key…');
      try {
        const options = await call('/login/mfa/webauthn/options', csrf);
        options.challenge = fromB64url(options.challenge);
        options.allowCredentials = descriptors(options.allowCredentials);
        const credential = await navigator.credentials.get({ publicKey: options });
        const fields = ['clientDataJSON', 'authenticatorData', 'signature', 'userHandle'];
        const done = await call('/login/mfa/webauthn', csrf, { credential: credentialJson(credential, fields) });
        window.location.assign(done.redirect || '/console');
      } catch (err) {
        say('Signing in with the passkey did not work: ' + (err && err.message ? err.message : err), true);
      }
    });
  }
})();
