// The whole browser side of the example: call the WebAuthn API with the options the backend sends, post the
// result back as JSON. No build step, no library. Bytes travel as unpadded base64url, as in WebAuthn's JSON forms.
"use strict";

const b64url = {
  encode(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (const b of bytes) text += String.fromCharCode(b);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
  decode(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(base64 + "===".slice((base64.length + 3) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  },
};

// Kept on window so a test (or a curious developer in the console) can see exactly what was sent.
window.sso = { user: null, account: null, lastCredential: null };

async function api(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw Object.assign(new Error(answer.message), { kind: answer.error });
  return answer;
}

function credentialToJSON(credential) {
  const r = credential.response;
  const response = { clientDataJSON: b64url.encode(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = b64url.encode(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = b64url.encode(r.authenticatorData);
    response.signature = b64url.encode(r.signature);
    response.userHandle = r.userHandle ? b64url.encode(r.userHandle) : null;
  }
  return {
    id: credential.id,
    rawId: b64url.encode(credential.rawId),
    type: credential.type,
    response,
    authenticatorAttachment: credential.authenticatorAttachment,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

// navigator.credentials.create: the backend's options with the binary fields decoded.
async function createPasskey(options) {
  const publicKey = {
    ...options,
    challenge: b64url.decode(options.challenge),
    user: { ...options.user, id: b64url.decode(options.user.id) },
    excludeCredentials: (options.excludeCredentials || []).map((c) => ({ ...c, id: b64url.decode(c.id) })),
  };
  const credential = credentialToJSON(await navigator.credentials.create({ publicKey }));
  window.sso.lastCredential = credential;
  return credential;
}

// navigator.credentials.get: the challenge is whatever the backend chose (a random nonce or a hash to sign).
async function usePasskey(options) {
  const publicKey = {
    ...options,
    challenge: b64url.decode(options.challenge),
    allowCredentials: (options.allowCredentials || []).map((c) => ({ ...c, id: b64url.decode(c.id) })),
  };
  const credential = credentialToJSON(await navigator.credentials.get({ publicKey }));
  window.sso.lastCredential = credential;
  return credential;
}

function show(state, message, details) {
  const status = document.getElementById("status");
  status.dataset.state = state;
  status.textContent = message;
  document.getElementById("details").textContent = details ? JSON.stringify(details, null, 2) : "";
  document.body.dataset.signedIn = window.sso.user ? "yes" : "no";
  document.getElementById("who").textContent = window.sso.user
    ? `${window.sso.user} · account ${window.sso.account}`
    : "not signed in";
}

async function run(state, action) {
  show("busy", `${state}…`);
  try {
    const result = await action();
    show(`${state}-done`, result.message, result);
  } catch (error) {
    // error.kind is the SDK error class the backend reported (OriginMismatch, ChallengeAlreadyUsed, ...).
    let message = `${error.kind || error.name}: ${error.message}`;
    if (state === "addkey" && error.name === "InvalidStateError") {
      // The account's passkeys are excluded: an authenticator holding one will not make a second.
      message += " Create the new passkey on another device (a phone or a security key).";
    }
    show("error", message, { error: error.kind || error.name });
  }
}

function field(id) {
  return document.getElementById(id).value.trim();
}

const flows = {
  async signup() {
    const user = field("name");
    const options = await api("/api/register/options", { user });
    const result = await api("/api/register/verify", { user, credential: await createPasskey(options) });
    Object.assign(window.sso, { user: result.user, account: result.account });
    return result;
  },
  async signin() {
    const options = await api("/api/login/options", { user: field("name") || null });
    const result = await api("/api/login/verify", { credential: await usePasskey(options) });
    Object.assign(window.sso, { user: result.user, account: result.account });
    return result;
  },
  async approve() {
    const request = await api("/api/tx/options", { user: window.sso.user, to: field("to"), value: field("value") });
    document.getElementById("details").textContent = JSON.stringify(request.transaction, null, 2);
    return api("/api/tx/submit", { user: window.sso.user, credential: await usePasskey(request.options) });
  },
  async addkey() {
    // Two ceremonies: create the new passkey, then approve linking it with a passkey the account already has.
    const user = window.sso.user;
    const created = await createPasskey(await api("/api/keys/options", { user }));
    const request = await api("/api/keys/link", { user, credential: created });
    return api("/api/tx/submit", { user, credential: await usePasskey(request.options) });
  },
};

for (const [name, flow] of Object.entries(flows)) {
  document.getElementById(name).addEventListener("click", () => run(name, flow));
}
show("ready", "Ready.");
