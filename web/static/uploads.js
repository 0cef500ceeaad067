// The upload queue: each file is created as a track, sent to the object store with progress,
// retried with backoff after a lost connection, resumable and cancellable.
// waiting → running (create, send, complete) → finished | failed, with "retrying" after a lost
// connection. Every attempt starts from what the server already has, so a retry and "Resume"
// are the same thing: multipart sends only the missing parts, a single PUT the whole file.

import { $, el, announce } from "./dom.js";
import { formatBytes, sentence } from "./format.js";
import { api, trackPath, ApiError, NetworkError } from "./api.js";
import { signedInAs } from "./session.js";

const MAX_RETRY_S = 30;
// More at once only splits the same bandwidth, while the later signed URLs age in the queue.
const PARALLEL_UPLOADS = 2;
// Headers only the browser may set; setRequestHeader would refuse them with a console error.
const UNSAFE_HEADERS = new Set(["content-length", "host", "connection", "expect", "keep-alive", "te",
  "trailer", "transfer-encoding", "upgrade", "cookie", "origin", "referer", "date", "accept-encoding"]);

/** The user cancelled, or signed out: the upload stops quietly. */
class Cancelled extends Error {}

export const uploads = new Set();
export const isUnfinished = (u) => ["waiting", "running", "retrying"].includes(u.state);
const isStopped = (u) => u.state === "cancelled" || u.state === "forgotten";

let tracksChanged = () => {};

/** Called whenever the server's list of tracks has changed (a track created, sent, discarded). */
export function onTracksChanged(handler) {
  tracksChanged = handler;
}

function guard(upload) {
  if (isStopped(upload)) throw new Cancelled("stopped");
}

function newIdempotencyKey() {
  // randomUUID exists only in secure contexts (https, localhost); getRandomValues everywhere.
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function addFiles(files) {
  if (!signedInAs) return;
  const spec = { preset: $("preset").value, format: $("format").value, mode: $("mode").value };
  for (const file of [...files]) {
    const upload = { file, spec, state: "waiting", id: null, plan: null, sent: false, key: newIdempotencyKey(),
      retryDelay: 1, retryTimer: null, xhr: null, speed: null, sample: null, attempts: 0 };
    upload.row = buildUploadRow(upload);
    $("uploads").append(upload.row.root);
    uploads.add(upload);
  }
  startWaitingUploads();
}

function startWaitingUploads() {
  let free = PARALLEL_UPLOADS - [...uploads].filter((u) => u.state === "running" || u.state === "retrying").length;
  for (const upload of uploads) {
    if (free > 0 && upload.state === "waiting") { free -= 1; runUpload(upload); }
  }
}

export async function runUpload(upload) {
  clearTimeout(upload.retryTimer);
  upload.sample = null;
  upload.attempts += 1;
  setUploadState(upload, "running", "Uploading…");
  try {
    if (!upload.id) await createTrack(upload);
    if (!upload.sent) {
      if (upload.plan.multipart) await sendParts(upload);
      else await sendWhole(upload);
      upload.sent = true;
    }
    guard(upload);
    setUploadState(upload, "running", "Checking the file…");
    await api("POST", trackPath(upload.id, "/complete"));
    guard(upload);
    finishUpload(upload);
  } catch (error) {
    if (isStopped(upload)) return;
    if (error instanceof NetworkError) scheduleRetry(upload);
    else failUpload(upload, uploadMessage(error));
  }
}

async function createTrack(upload) {
  const { file, spec } = upload;
  const body = { filename: file.name, size: file.size, content_type: file.type || "application/octet-stream", ...spec };
  // The key makes a retried create (its answer lost) return the same track, not a second one.
  const created = await api("POST", "/api/v1/tracks", { body, headers: { "Idempotency-Key": upload.key } });
  Object.assign(upload, { id: created.id, plan: created.upload });
  upload.row.root.dataset.trackId = created.id;
  if (upload.state === "cancelled") discardTrack(upload.id); // cancelled while we waited for the id
  guard(upload);
  tracksChanged(); // the new track shows in the list at once
}

async function sendParts(upload) {
  const { part_size: partSize, parts } = upload.plan.multipart;
  const range = (n) => [(n - 1) * partSize, Math.min(n * partSize, upload.file.size)];
  const listing = await api("GET", trackPath(upload.id, "/parts"));
  const stored = new Map(((listing && listing.parts) || []).map((p) => [p.n, p.size]));
  let done = 0;
  const missing = [];
  for (let n = 1; n <= parts; n += 1) {
    const [start, end] = range(n);
    if (stored.get(n) === end - start) done += end - start;
    else missing.push(n);
  }
  showProgress(upload, done);
  for (const n of missing) {
    guard(upload);
    const target = await api("GET", trackPath(upload.id, `/parts/${n}`));
    const [start, end] = range(n);
    await sendBytes(upload, target, upload.file.slice(start, end), done);
    done += end - start;
  }
}

/** The whole file in one PUT. Its signed URL lasts 15 minutes: a retry or "Resume" asks for a fresh one. */
async function sendWhole(upload) {
  const target = upload.attempts > 1 ? await api("GET", trackPath(upload.id, "/parts/1")) : upload.plan;
  await sendBytes(upload, target, upload.file, 0);
}

/** PUTs `body` with XMLHttpRequest, the one browser API that reports upload progress. */
function sendBytes(upload, target, body, offset) {
  guard(upload);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    upload.xhr = xhr;
    xhr.open(target.method || "PUT", target.url);
    const headers = Array.isArray(target.headers) ? target.headers : Object.entries(target.headers || {});
    for (const [name, value] of headers) if (!UNSAFE_HEADERS.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => showProgress(upload, offset + e.loaded);
    xhr.onload = () => {
      upload.xhr = null;
      if (xhr.status === 0) return reject(new NetworkError("network"));
      if (xhr.status < 200 || xhr.status > 299) return reject(storeError(xhr));
      upload.retryDelay = 1; // progress was made: the next outage starts the backoff afresh
      showProgress(upload, offset + body.size);
      resolve();
    };
    xhr.onerror = xhr.ontimeout = () => { upload.xhr = null; reject(new NetworkError("network")); };
    xhr.onabort = () => { upload.xhr = null; reject(new Cancelled("aborted")); };
    xhr.send(body);
  });
}

/** The store's refusal: our JSON error when it is ours, words of our own otherwise (S3 speaks XML). */
function storeError(xhr) {
  try {
    const e = JSON.parse(xhr.responseText).error;
    if (e && e.message) return new ApiError(xhr.status, e.code, e.message);
  } catch { /* not JSON */ }
  const words = { 403: "the upload link was refused or has expired; cancel and upload the file again",
    413: "this file is larger than the server accepts" }[xhr.status];
  return new ApiError(xhr.status, `http_${xhr.status}`, words || `the upload was refused (HTTP ${xhr.status})`);
}

function uploadMessage(error) {
  if (error.code === "not_audio") {
    const reason = String(error.message || "").replace(/^this file is not audio we can read:?\s*/i, "");
    return `This file is not audio we can read${reason ? `: ${reason}` : "."}`;
  }
  if (error.code === "size_mismatch") return "The upload arrived incomplete. Cancel and upload the file again.";
  return sentence(error.message); // a 413 included: the server's message states the limit
}

function scheduleRetry(upload) {
  const delay = upload.retryDelay;
  if (delay === 1) announce(`Connection lost while uploading “${upload.file.name}”. Retrying…`);
  upload.retryDelay = Math.min(delay * 2, MAX_RETRY_S);
  setUploadState(upload, "retrying", "Connection lost — retrying…");
  upload.row.detail.textContent = `Next try in ${delay} s. Resume tries now and sends only what is missing.`;
  upload.retryTimer = setTimeout(() => runUpload(upload), delay * 1000);
}

function finishUpload(upload) {
  setUploadState(upload, "finished", "Uploaded — queued for processing.");
  showProgress(upload, upload.file.size);
  announce(`“${upload.file.name}” uploaded; it is queued for processing.`);
  setTimeout(() => removeUpload(upload), 4000);
  startWaitingUploads();
  tracksChanged();
}

function failUpload(upload, message) {
  setUploadState(upload, "failed", "Upload failed");
  upload.row.detail.textContent = message;
  announce(`“${upload.file.name}”: ${message}`);
  startWaitingUploads();
  tracksChanged();
}

/** Stops an upload in this page only: aborts the transfer, removes its row. */
export function stopUpload(upload, state) {
  upload.state = state;
  clearTimeout(upload.retryTimer);
  if (upload.xhr) upload.xhr.abort();
  removeUpload(upload);
}

export async function cancelUpload(upload) {
  stopUpload(upload, "cancelled");
  announce(`Upload of “${upload.file.name}” cancelled.`);
  startWaitingUploads();
  if (upload.id) await discardTrack(upload.id); // without an id yet, createTrack deletes it
}

async function discardTrack(id) {
  try { await api("DELETE", trackPath(id)); } catch { /* already gone, or signed out: nothing to undo */ }
  tracksChanged();
}

function removeUpload(upload) {
  uploads.delete(upload);
  upload.row.root.remove();
}

function buildUploadRow(upload) {
  const name = upload.file.name;
  const row = {
    state: el("span", { class: "upload-state" }, "Waiting…"),
    bar: el("progress", { max: Math.max(upload.file.size, 1), value: 0, "aria-label": `Upload progress of ${name}` }),
    figures: el("p", { class: "upload-figures" }, `0 B of ${formatBytes(upload.file.size)} · 0%`),
    detail: el("p", { class: "upload-detail" }),
    resume: el("button", { type: "button", class: "resume", hidden: true }, "Resume"),
    cancel: el("button", { type: "button", class: "cancel", "aria-label": `Cancel upload of ${name}` }, "Cancel"),
    dismiss: el("button", { type: "button", class: "dismiss", hidden: true }, "Dismiss"),
  };
  row.resume.addEventListener("click", () => runUpload(upload));
  row.cancel.addEventListener("click", () => cancelUpload(upload));
  row.dismiss.addEventListener("click", () => removeUpload(upload));
  row.root = el("li", { class: "upload" },
    el("div", { class: "row-head" }, el("span", { class: "upload-name" }, name), row.state),
    row.bar, row.figures, row.detail, el("div", { class: "actions" }, row.resume, row.cancel, row.dismiss));
  return row;
}

function setUploadState(upload, state, text) {
  const { row } = upload;
  upload.state = row.root.dataset.state = state;
  row.state.textContent = text;
  row.detail.textContent = "";
  row.resume.hidden = state !== "retrying";
  row.cancel.hidden = state === "finished" || state === "failed";
  row.dismiss.hidden = state !== "failed";
}

function showProgress(upload, sent) {
  const total = upload.file.size;
  const now = performance.now();
  // Speed over a second or more, smoothed so the figure can be read while it changes.
  if (!upload.sample) upload.sample = { time: now, bytes: sent };
  else if (now - upload.sample.time >= 1000) {
    const rate = Math.max(0, (sent - upload.sample.bytes) / ((now - upload.sample.time) / 1000));
    upload.speed = upload.speed === null ? rate : 0.7 * upload.speed + 0.3 * rate;
    upload.sample = { time: now, bytes: sent };
  }
  upload.row.bar.value = sent;
  const percent = total ? Math.floor((sent * 100) / total) : 100;
  const speed = upload.speed === null ? "" : ` · ${(upload.speed / 1e6).toFixed(1)} MB/s`;
  upload.row.figures.textContent = `${formatBytes(sent)} of ${formatBytes(total)} · ${percent}%${speed}`;
}
