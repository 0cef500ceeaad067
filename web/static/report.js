// The report of a finished track: the before/after figures, the verdict, the notes, the curve.

import { el } from "./dom.js";
import { formatNumber, sentence } from "./format.js";
import { loudnessChart } from "./curve.js";

/** A figure with its raw number in data-value (empty for null), for tests and for copying. */
function figure(tag, field, value, options = {}) {
  const raw = Number.isFinite(value) ? String(value) : "";
  return el(tag, { "data-field": field, "data-value": raw }, formatNumber(value, options) + (options.unit || ""));
}

export function reportView(report) {
  const [input, output] = [report.input || {}, report.output || {}];
  const measures = [["Integrated (LUFS)", "integrated", "integrated_lufs"],
    ["Loudness range (LU)", "lra", "loudness_range_lu"], ["True peak (dBTP)", "tp", "true_peak_dbtp"]];
  const table = el("table", { class: "figures" }, el("caption", {}, "Loudness before and after"),
    el("thead", {}, el("tr", {}, ...["Measure", "Input", "Output"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...measures.map(([label, field, key]) => el("tr", {}, el("th", { scope: "row" }, label),
      figure("td", `input-${field}`, input[key]), figure("td", `output-${field}`, output[key])))));
  const reduction = report.limiter_max_reduction_db;
  const limited = Number.isFinite(reduction) && reduction !== 0
    ? ` (the limiter took up to ${formatNumber(Math.abs(reduction))} dB off the peaks)` : "";
  const summary = el("p", { class: "summary" }, "Gain applied: ",
    figure("strong", "gain", report.gain_db, { sign: true, unit: " dB", empty: "—" }), ` · Mode: ${report.mode || "?"}${limited}`);
  const met = report.target_met === true;
  const verdict = el("p", { class: `verdict ${met ? "met" : "missed"}` },
    el("span", { "data-field": "target-met", "data-value": String(met) }, met ? "Target met" : "Target missed"),
    ` — target ${formatNumber(report.target_lufs)} LUFS, true peak at most ${formatNumber(report.true_peak_ceiling_dbtp)} dBTP`);
  const notes = report.notes || [];
  const why = notes.length > 0 && el("div", { class: "notes" }, el("p", {}, met ? "Notes:" : "Why:"),
    el("ul", {}, ...notes.map((note) => el("li", {}, sentence(note)))));
  return [el("div", { class: "table-wrap" }, table), summary, verdict, why, loudnessChart(report)].filter(Boolean);
}
