// The live list of the user's tracks: polled, newest first, each row rebuilt only when it changed.

import { $, el, announce } from "./dom.js";
import { formatNumber, sentence } from "./format.js";
import { api, trackPath, NetworkError } from "./api.js";
import { signedInAs } from "./session.js";
import { uploads, isUnfinished, stopUpload } from "./uploads.js";
import { reportView } from "./report.js";

const PRESETS = {
  ebu: "EBU R128 broadcast (−23 LUFS)", streaming: "Streaming (−14 LUFS)",
  podcast: "Podcast (−16 LUFS)", atsc: "ATSC A/85 (−24 LUFS)",
};
const STATUS_TEXT = { uploading: "Uploading", queued: "Queued", processing: "Processing", done: "Done", failed: "Failed" };
const STATUS_HINT = {
  uploading: "Waiting for the upload to finish.", queued: "Waiting for a free worker.", processing: "Measuring and normalizing…",
};
const FAST_POLL_MS = 2000;
const SLOW_POLL_MS = 15000;

const trackRows = new Map(); // id → {el, updatedAt, status}
let latestTracks = [];
let pollTimer = null;
let refreshSeq = 0;
let listFailing = false;

export function stopPolling() {
  clearTimeout(pollTimer);
  refreshSeq += 1; // an answer still on its way is dropped
}

function pollDelay() {
  if (document.hidden) return SLOW_POLL_MS;
  // An "uploading" track that this page is not sending (an abandoned upload) keeps the slow pace.
  const busy = [...uploads].some(isUnfinished) || latestTracks.some((t) => t.status === "queued" || t.status === "processing");
  return busy ? FAST_POLL_MS : SLOW_POLL_MS;
}

export async function refreshTracks() {
  clearTimeout(pollTimer);
  if (!signedInAs) return;
  const seq = ++refreshSeq;
  try {
    const page = await api("GET", "/api/v1/tracks?limit=100");
    if (seq !== refreshSeq) return; // a newer refresh is under way; it renders and reschedules
    renderTracks(page.tracks || []);
    $("tracks-more").hidden = !page.next;
    if (listFailing) announce("Connected again.");
    listFailing = false;
  } catch (error) {
    if (seq !== refreshSeq || !signedInAs) return;
    if (!listFailing) {
      announce(error instanceof NetworkError ? "Can't reach the server; the list will update when the connection is back."
        : `Could not load your tracks: ${error.message}`);
    }
    listFailing = true;
  }
  pollTimer = setTimeout(refreshTracks, pollDelay());
}

/** Rebuilds only rows whose `updated_at` changed, so a playing `<audio>` keeps playing. */
function renderTracks(tracks) {
  const list = $("tracks");
  const wanted = new Set(tracks.map((t) => t.id));
  tracks.forEach((track, index) => {
    const old = trackRows.get(track.id);
    let row = old;
    if (!old || old.updatedAt !== track.updated_at || old.status !== track.status) {
      row = { el: buildTrackRow(track), updatedAt: track.updated_at, status: track.status };
      if (old) replaceRow(old, row, track);
      trackRows.set(track.id, row);
    }
    if (list.children[index] !== row.el) list.insertBefore(row.el, list.children[index] || null);
  });
  for (const [id, row] of trackRows) if (!wanted.has(id)) removeTrackRow(id, row);
  latestTracks = tracks;
  $("no-tracks").hidden = tracks.length > 0;
}

function replaceRow(old, row, track) {
  const hadFocus = old.el.contains(document.activeElement);
  old.el.replaceWith(row.el);
  if (hadFocus) row.el.querySelector("button.delete").focus();
  if (old.status === track.status) return;
  if (track.status === "done") announce(`“${track.filename}” is ready.`);
  if (track.status === "failed") announce(`“${track.filename}” could not be processed.`);
}

function removeTrackRow(id, row) {
  row.el.remove();
  trackRows.delete(id);
  latestTracks = latestTracks.filter((t) => t.id !== id);
  $("no-tracks").hidden = latestTracks.length > 0;
}

export function clearTracks() {
  $("tracks").replaceChildren();
  trackRows.clear();
  latestTracks = [];
  $("no-tracks").hidden = $("tracks-more").hidden = true;
}

function describeSpec(spec) {
  if (!spec) return "";
  const target = PRESETS[spec.preset] || `${formatNumber(spec.target_lufs)} LUFS`;
  return `${target} · ${String(spec.format || "").toUpperCase()} · ${spec.mode || ""}`;
}

function buildTrackRow(track) {
  const known = Object.hasOwn(STATUS_TEXT, track.status);
  const li = el("li", { class: "track", "data-track-id": track.id, "data-status": track.status },
    el("div", { class: "row-head" }, el("span", { class: "filename" }, track.filename),
      el("span", { class: `badge badge-${known ? track.status : "unknown"}` }, STATUS_TEXT[track.status] || track.status)),
    el("p", { class: "spec" }, describeSpec(track.spec)));
  if (track.status === "failed") {
    li.append(el("p", { class: "error" }, sentence(track.error || (track.report && track.report.error) || "processing failed")));
  } else if (track.status === "done" && track.report) {
    li.append(...reportView(track.report));
  } else if (STATUS_HINT[track.status]) {
    li.append(el("p", { class: "hint" }, STATUS_HINT[track.status]));
  }
  const actions = el("div", { class: "actions" });
  if (track.status === "done") {
    li.append(el("audio", { controls: true, preload: "metadata", src: trackPath(track.id, "/play"),
      "aria-label": `Play the normalized ${track.filename}` }));
    actions.append(el("a", { class: "download", href: trackPath(track.id, "/download"),
      download: track.output_filename || "" }, `Download ${track.output_filename || "the result"}`));
  }
  const remove = el("button", { type: "button", class: "delete", "aria-label": `Delete ${track.filename}` }, "Delete");
  remove.addEventListener("click", () => deleteTrack(track, remove));
  actions.append(remove);
  li.append(actions);
  return li;
}

async function deleteTrack(track, button) {
  if (!confirm(`Delete “${track.filename}”? The upload and its normalized copy are removed for good.`)) return;
  button.disabled = true;
  for (const upload of [...uploads]) if (upload.id === track.id) stopUpload(upload, "cancelled");
  try {
    await api("DELETE", trackPath(track.id));
  } catch (e) {
    if (e.status !== 404) { // 404: already gone, which is what was asked
      button.disabled = false;
      return announce(`Could not delete “${track.filename}”: ${e instanceof NetworkError ? "can't reach the server" : e.message}.`);
    }
  }
  const row = trackRows.get(track.id);
  if (row) removeTrackRow(track.id, row);
  $("tracks-heading").focus(); // the focused button is gone; keep keyboard users in the list
  announce(`Deleted “${track.filename}”.`);
  refreshTracks();
}
