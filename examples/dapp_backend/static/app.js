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
window.sso = { user: null, account: null, view: null, lastCredential: null, lastRequest: null };

// Every call is a same-origin JSON POST (or GET): the browser adds the Origin header and the session cookie
// (HttpOnly, SameSite=Strict); the server takes the user from that session, never from the body.
async function api(path, body) {
  const init = body === undefined
    ? { method: "GET" }
    : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  const answer = await response.json();
  if (!response.ok) {
    throw Object.assign(new Error(answer.message),
      { kind: answer.error, rule: answer.rule, status: response.status, fallback: answer.fallback === true,
        sent: answer.sent === true, transactionHash: answer.transactionHash, userOpHash: answer.userOpHash,
        sentStatus: answer.status });
  }
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

function text(id, value) {
  document.getElementById(id).textContent = value;
}

function shortHash(hash) {
  return hash ? `${hash.slice(0, 10)}…${hash.slice(-8)}` : "";
}

// The signed-in user's account as the server sees it: address, balance in ETH, passkeys, operations.
function render(view) {
  window.sso.view = view;
  window.sso.user = view ? view.user : null;
  window.sso.account = view ? view.account : null;
  document.body.dataset.signedIn = view ? "yes" : "no";
  text("who", view ? `Signed in as ${view.user}` : "not signed in");
  text("account", view ? view.account : "–");
  text("balance", view ? `${view.balanceEth} ETH` : "–");
  const keys = document.getElementById("passkeys");
  keys.replaceChildren(...(view ? view.passkeys : []).map((key) => {
    const item = document.createElement("li");
    item.textContent = `${key.id.slice(0, 16)}… linked ${new Date(key.linkedAt * 1000).toLocaleString()}`;
    return item;
  }));
  renderOperations(view ? view.operations : []);
}

function renderOperations(operations) {
  const rows = document.getElementById("operations");
  rows.replaceChildren(...operations.map((op) => {
    const row = document.createElement("tr");
    row.dataset.status = op.status;
    const what = op.linksPasskey ? "link passkey" : `${op.valueEth} ETH → ${shortHash(op.to)}`;
    for (const value of [what, op.status, shortHash(op.hash), shortHash(op.transactionHash), op.error || ""]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.append(cell);
    }
    return row;
  }));
}

// An operation's status as it moves, shown before the server's list is fetched again.
function track(op, status, extra) {
  const view = window.sso.view;
  if (!view) return;
  const others = view.operations.filter((o) => o.opId !== op.opId);
  view.operations = [{ ...op, status, ...extra }, ...others];
  renderOperations(view.operations);
}

async function refresh() {
  try {
    render(await api("/api/session"));
  } catch (error) {
    if (error.status !== 401) throw error;
    render(null);
    return;
  }
  await refreshSessions();
}

// The session keys the backend holds for this user: limits and what remains, as the chain reports them.
async function refreshSessions() {
  const note = document.getElementById("session-unavailable");
  try {
    renderSessions((await api("/api/sessions")).sessions);
    note.hidden = true;
  } catch (error) {
    if (error.kind !== "SessionsUnavailable") throw error;
    renderSessions([]);
    note.hidden = false;
    note.textContent = error.message;
  }
}

function renderSessions(sessions) {
  window.sso.sessions = sessions;
  // The buttons act on the newest session that can still be used or revoked.
  window.sso.session = sessions.find((s) => s.status !== "revoked" && s.status !== "expired") || null;
  const rows = document.getElementById("sessions");
  rows.replaceChildren(...sessions.map((s) => {
    const row = document.createElement("tr");
    row.dataset.session = s.status;
    row.dataset.sessionId = s.sessionId;
    const left = s.remainingTodayEth === undefined ? "–" : `${s.remainingTodayEth} ETH`;
    const fees = s.feesRemainingEth === undefined ? "–" : `${s.feesRemainingEth} ETH`;
    const values = [s.status, shortHash(s.recipient), `${s.perUseEth} ETH`, `${s.dailyEth} ETH`, left, fees,
      new Date(s.expiresAt * 1000).toLocaleString(),
      s.periodEndsAt === undefined ? "–" : new Date(s.periodEndsAt * 1000).toLocaleString()];
    for (const value of values) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.append(cell);
    }
    return row;
  }));
}

function currentSession() {
  const session = window.sso.session;
  if (!session) throw Object.assign(new Error("approve a session first"), { kind: "NoSession" });
  return session;
}

function show(state, message, details) {
  const status = document.getElementById("status");
  status.dataset.state = state;
  status.textContent = message;
  document.getElementById("details").textContent = details ? JSON.stringify(details, null, 2) : "";
}

async function run(state, action) {
  show("busy", `${state}…`);
  try {
    const result = await action();
    await refresh();
    show(`${state}-done`, result.message, result);
  } catch (error) {
    if (error.fallback) {
      // The session is used up, expired or revoked: the same payment can still go with the passkey.
      window.sso.fallback = error.payment;
      document.getElementById("sessionfallback").hidden = false;
      await refresh().catch(() => {});
      show("fallback", `The session cannot pay (${error.rule}): ${error.message} Approve it with your passkey instead?`,
        { error: error.kind, rule: error.rule });
      return;
    }
    // error.kind is the error class the backend reported (AssertionRejected, CrossSiteRequest, ...).
    let message = `${error.kind || error.name}: ${error.message}`;
    if (state === "addkey" && error.name === "InvalidStateError") {
      // The account's passkeys are excluded: an authenticator holding one will not make a second.
      message += " Create the new passkey on another device (a phone or a security key).";
    }
    await refresh().catch(() => {});
    show("error", message, { error: error.kind || error.name });
  }
}

function field(id) {
  return document.getElementById(id).value.trim();
}

// Ask the passkey to approve a prepared operation; the list shows it pending, then signed.
async function signOperation(request) {
  window.sso.lastRequest = request;
  const summary = request.transaction;
  const op = { opId: request.opId, to: summary.to, valueEth: summary.valueEth, linksPasskey: summary.linksPasskey,
    hash: summary.userOpHash || summary.signedHash };
  track(op, "pending");
  const credential = await usePasskey(request.options);
  track(op, "signed");
  return { op, credential };
}

// Submit a signed operation; the list shows it included with its transaction hash (or failed).
async function submitOperation({ op, credential }) {
  try {
    const result = await api("/api/tx/submit", { opId: op.opId, credential });
    track(op, result.status, { transactionHash: result.transactionHash });
    return result;
  } catch (error) {
    // Sent all the same (the failure came after): show it with whichever hash is known (a UserOperation's
    // outcome may be unknown before any transaction hash is), never as failed.
    const status = error.sent ? error.sentStatus || "sent" : "failed";
    const sentHash = error.transactionHash || error.userOpHash;
    track(op, status, { error: error.kind || error.name, transactionHash: sentHash });
    throw error;
  }
}

async function approveOperation(request) {
  return submitOperation(await signOperation(request));
}

const flows = {
  async signup() {
    const options = await api("/api/register/options", { user: field("name") });
    return api("/api/register/verify", { credential: await createPasskey(options) });
  },
  async signin() {
    // The name is optional: the passkey is discoverable; if given, the server checks it is that user's.
    const options = await api("/api/login/options", { user: field("name") || null });
    return api("/api/login/verify", { credential: await usePasskey(options) });
  },
  async signout() {
    return api("/api/logout", {});
  },
  async approve() {
    const request = await api("/api/tx/options", { to: field("to"), value: field("value") });
    document.getElementById("details").textContent = JSON.stringify(request.transaction, null, 2);
    return approveOperation(request);
  },
  async sessioncreate() {
    const request = await api("/api/sessions/options", {
      recipient: field("sessionTo"), perUseEth: field("sessionPerUse"), dailyEth: field("sessionDaily"),
      hours: Number.parseInt(field("sessionHours"), 10),
    });
    const result = await approveOperation(request);
    result.message = "Session approved: the backend may now pay within its limits without asking you.";
    result.session = request.session;
    return result;
  },
  async sessionuse() {
    const session = currentSession();
    const payment = { to: session.recipient, value: field("sessionValue") };
    document.getElementById("sessionfallback").hidden = true;
    try {
      return await api("/api/sessions/use", { sessionId: session.sessionId, value: payment.value });
    } catch (error) {
      error.payment = payment;
      throw error;
    }
  },
  async sessionfallback() {
    const payment = window.sso.fallback;
    if (!payment) throw Object.assign(new Error("no refused payment to approve"), { kind: "NoPayment" });
    const request = await api("/api/tx/options", payment);
    const result = await approveOperation(request);
    window.sso.fallback = null;
    document.getElementById("sessionfallback").hidden = true;
    return result;
  },
  async sessionrevoke() {
    const result = await approveOperation(await api("/api/sessions/revoke", { sessionId: currentSession().sessionId }));
    result.message = "Session revoked: its key can no longer pay.";
    return result;
  },
  async addkey() {
    // Two ceremonies: create the new passkey, then approve linking it with a passkey the account already has.
    const created = await createPasskey(await api("/api/keys/options", {}));
    return approveOperation(await api("/api/keys/link", { credential: created }));
  },
};

for (const [name, flow] of Object.entries(flows)) {
  document.getElementById(name).addEventListener("click", () => run(name, flow));
}
refresh().then(() => show("ready", "Ready."), (error) => show("error", String(error)));
