// Passkeys: the browser half of a WebAuthn ceremony. A form with
// data-passkey="create" (register, on /profile) or "get" (sign in) asks its
// data-options URL for the options, calls navigator.credentials, and posts the
// answer to its action as JSON. webauthn-rs speaks base64url (no padding) for
// every binary field; the browser API wants ArrayBuffers, so both directions
// convert. The CSRF token goes in x-csrf-token (a file, not inline: the CSP).
"use strict";

(function () {
  function toBuffer(b64url) {
    const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
    const bin = atob(padded);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    const pk = json.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    pk.user.id = toBuffer(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return { publicKey: pk };
  }

  function requestOptions(json) {
    const pk = json.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return { publicKey: pk };
  }

  function registration(cred) {
    const r = cred.response;
    return {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: {
        attestationObject: toBase64url(r.attestationObject),
        clientDataJSON: toBase64url(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : undefined,
      },
    };
  }

  function assertion(cred) {
    const r = cred.response;
    return {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: {
        authenticatorData: toBase64url(r.authenticatorData),
        clientDataJSON: toBase64url(r.clientDataJSON),
        signature: toBase64url(r.signature),
        userHandle: r.userHandle ? toBase64url(r.userHandle) : null,
      },
    };
  }

  async function post(url, csrf, body) {
    const resp = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body),
    });
    let json = {};
    try { json = await resp.json(); } catch (_) { json = { error: "Unexpected answer (" + resp.status + ")." }; }
    return { ok: resp.ok, json: json };
  }

  function showError(form, message) {
    const box = form.querySelector("[role=alert]");
    if (box) {
      box.textContent = message;
      box.hidden = false;
    }
  }

  async function run(form) {
    const mode = form.dataset.passkey;
    const csrf = form.elements.csrf.value;
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      if (!window.PublicKeyCredential) throw new Error("This browser does not support passkeys.");
      const started = await post(form.dataset.options, csrf, {});
      if (!started.ok) throw new Error(started.json.error || "The passkey request could not start.");
      let body;
      if (mode === "create") {
        const cred = await navigator.credentials.create(creationOptions(started.json));
        body = { name: form.elements.name.value, credential: registration(cred) };
      } else {
        const cred = await navigator.credentials.get(requestOptions(started.json));
        body = { credential: assertion(cred) };
      }
      const done = await post(form.action, csrf, body);
      if (done.json.redirect && (done.ok || !done.json.error)) {
        window.location.assign(done.json.redirect);
        return;
      }
      if (done.json.redirect) {
        showError(form, done.json.error);
        setTimeout(function () { window.location.assign(done.json.redirect); }, 1500);
        return;
      }
      throw new Error(done.json.error || "The passkey was not accepted.");
    } catch (e) {
      // NotAllowedError: the user cancelled or the authenticator timed out
      showError(form, e && e.name === "NotAllowedError" ? "The passkey request was cancelled or timed out." : String(e.message || e));
    } finally {
      if (button) button.disabled = false;
    }
  }

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      run(form);
    });
  });
})();
