// The page of `audioproc serve`: sign in, upload, watch tracks get normalized.
// Plain ES modules, no build step; the REST contract is web/API.md. This entry module holds the
// signed-in and signed-out views and wires the page together; the rest lives beside it:
// api.js (requests, errors), uploads.js (the upload queue), tracks.js (the live list),
// report.js and curve.js (a finished track's report), format.js and dom.js (helpers).

import { $, announce } from "./dom.js";
import { sentence } from "./format.js";
import { api, onUnauthorized, NetworkError } from "./api.js";
import { signedInAs, setSignedInAs } from "./session.js";
import { uploads, isUnfinished, addFiles, runUpload, stopUpload, cancelUpload, onTracksChanged } from "./uploads.js";
import { refreshTracks, stopPolling, clearTracks } from "./tracks.js";

const MIN_PASSWORD_CHARS = 8; // the server's minimum (web/API.md)

// ---- Signing in and out ---------------------------------------------------------------------

function setView(signedIn) {
  for (const id of ["account", "upload-view", "tracks-view"]) $(id).hidden = !signedIn;
  $("auth-view").hidden = signedIn;
  $("loading").hidden = true;
}

function showSignedIn(email) {
  setSignedInAs(email);
  $("whoami").textContent = email;
  $("auth-error").textContent = "";
  for (const id of ["signin-password", "signup-password"]) $(id).value = "";
  setView(true);
  refreshTracks();
}

function showSignedOut(message = "") {
  const wasSignedIn = signedInAs !== null;
  setSignedInAs(null);
  stopPolling();
  for (const upload of [...uploads]) stopUpload(upload, "forgotten"); // the server would refuse them now
  clearTracks();
  setView(false);
  $("auth-error").textContent = message;
  if (wasSignedIn) $("signin-email").focus();
}

function authMessage(error) {
  if (error instanceof NetworkError) return "Can't reach the server. Check your connection and try again.";
  if (error.code === "wrong_credentials") return "Wrong email or password.";
  if (error.status === 409) return "That email already has an account. Sign in instead.";
  if (error.status === 429) {
    const wait = Math.ceil(Number(error.retryAfter)); // Retry-After in seconds
    return wait > 0 ? `Too many attempts: try again in ${wait} s.` : "Too many attempts: try again later.";
  }
  return sentence(error.message);
}

/** Checked here too, so the message is in words next to the form, not a browser bubble. */
function formProblem(kind, email, password) {
  if (!email || !password) return "Enter your email and password.";
  if (kind === "signup" && !email.includes("@")) return "Enter your email address, like name@example.com.";
  if (kind === "signup" && [...password].length < MIN_PASSWORD_CHARS) {
    return `The password must have at least ${MIN_PASSWORD_CHARS} characters.`;
  }
  return "";
}

/** Sign-in, and sign-up (create the account, then sign in with it). */
function wireAuthForm(kind) {
  $(`${kind}-form`).addEventListener("submit", async (event) => {
    event.preventDefault();
    const email = $(`${kind}-email`).value.trim();
    const password = $(`${kind}-password`).value;
    const button = $(`${kind}-submit`);
    $("auth-error").textContent = formProblem(kind, email, password);
    if ($("auth-error").textContent) return;
    button.disabled = true; // one request per click, however many clicks
    try {
      if (kind === "signup") await api("POST", "/api/v1/users", { body: { email, password } });
      const user = await api("POST", "/api/v1/sessions", { body: { email, password } });
      showSignedIn(user.email);
      $("upload-heading").focus(); // the form that had focus is gone
    } catch (e) {
      $("auth-error").textContent = authMessage(e);
    } finally {
      button.disabled = false;
    }
  });
}

async function signOut() {
  const active = [...uploads].filter(isUnfinished);
  if (active.length && !confirm("Uploads in progress will be cancelled. Sign out anyway?")) return;
  await Promise.all(active.map(cancelUpload));
  try {
    await api("DELETE", "/api/v1/sessions");
  } catch (e) {
    if (e instanceof NetworkError) return announce("Can't reach the server, so you are still signed in. Try again.");
  }
  showSignedOut();
  announce("You are signed out.");
}

async function checkSession() {
  try {
    showSignedIn((await api("GET", "/api/v1/me")).email);
  } catch (e) {
    if (e instanceof NetworkError) showSignedOut("Can't reach the server. Check your connection and reload the page.");
    else showSignedOut(e.status === 401 ? "" : sentence(e.message));
  }
}

// ---- Wiring -----------------------------------------------------------------------------------

function wireDropZone() {
  const [zone, input] = [$("drop-zone"), $("file-input")];
  const hasFiles = (e) => [...((e.dataTransfer && e.dataTransfer.types) || [])].includes("Files");
  zone.addEventListener("click", () => input.click()); // a <button>, so Enter and Space click it too
  input.addEventListener("change", () => { addFiles(input.files); input.value = ""; });
  zone.addEventListener("dragover", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    zone.classList.add("drag-over");
  });
  zone.addEventListener("dragleave", (e) => { if (!zone.contains(e.relatedTarget)) zone.classList.remove("drag-over"); });
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("drag-over");
    addFiles(e.dataTransfer.files);
  });
  // A file dropped beside the zone would make the browser open it, leaving the page and its uploads.
  window.addEventListener("dragover", (e) => {
    if (!zone.contains(e.target) && hasFiles(e)) { e.preventDefault(); e.dataTransfer.dropEffect = "none"; }
  });
  window.addEventListener("drop", (e) => { if (!zone.contains(e.target)) e.preventDefault(); });
}

/** A server whose processing is done elsewhere applies fixed settings: show them, and lock the choices. */
async function applySettings() {
  let settings;
  try { settings = await api("GET", "/api/v1/settings"); } catch { return; }
  const fixed = settings && settings.fixed_spec;
  if (!fixed) return;
  for (const name of ["preset", "format", "mode"]) {
    const select = $(name);
    select.value = fixed[name];
    select.disabled = true;
  }
  const hint = $("fixed-hint");
  hint.textContent = `This server processes every upload with the same settings: ${fixed.target_lufs} LUFS, ` +
    `true peak at most ${fixed.true_peak_dbtp} dBTP, ${fixed.mode} mode, ${fixed.format.toUpperCase()} output.`;
  hint.hidden = false;
}

function start() {
  // A 401 while signed in means the session ended (it expired, or was closed elsewhere).
  onUnauthorized(() => { if (signedInAs) showSignedOut("Your session has ended. Please sign in again."); });
  onTracksChanged(refreshTracks);
  wireAuthForm("signin");
  wireAuthForm("signup");
  $("signout").addEventListener("click", signOut);
  wireDropZone();
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refreshTracks(); });
  window.addEventListener("online", () => { for (const u of uploads) if (u.state === "retrying") runUpload(u); });
  window.addEventListener("beforeunload", (e) => {
    if ([...uploads].some(isUnfinished)) { e.preventDefault(); e.returnValue = ""; }
  });
  applySettings();
  checkSession();
}

start();
