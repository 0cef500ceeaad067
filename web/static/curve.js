// The loudness curves of a report (`curve: {input, output}`, schema audioproc.curve/1) as an
// SVG chart: drawn only when the report carries them. Point i of a curve covers the audio up to
// (i + 1) × interval_s seconds; null is silence (or a window not yet filled) and lifts the pen.

import { el, svg } from "./dom.js";
import { formatNumber, formatTime } from "./format.js";

/** The values a curve is drawn from: short-term loudness, or momentary when it has none. */
function readings(c) {
  const has = (v) => Array.isArray(v) && v.some(Number.isFinite);
  return has(c.short_term) ? c.short_term : has(c.momentary) ? c.momentary : [];
}

function curveSeries(report) {
  const curves = report.curve || {};
  return [["Input", "input", curves.input], ["Output", "output", curves.output]]
    .filter(([, , c]) => c && typeof c === "object")
    .map(([label, kind, c]) => ({ label, kind, step: c.interval_s || 0.1, values: readings(c) }))
    .filter((s) => s.values.length > 0);
}

export function loudnessChart(report) {
  const series = curveSeries(report);
  if (!series.length) return null;
  const [W, H, left, right, top, bottom] = [480, 170, 38, 8, 8, 22];
  const target = Number.isFinite(report.target_lufs) ? report.target_lufs : null;
  let [lo, hi] = target === null ? [Infinity, -Infinity] : [target, target];
  for (const s of series) for (const v of s.values) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const yMax = Number.isFinite(hi) ? Math.ceil(hi + 1) : 0;
  const yMin = Math.min(Number.isFinite(lo) ? Math.max(-60, Math.floor(lo - 1)) : -60, yMax - 6);
  const duration = Math.max(...series.map((s) => s.values.length * s.step));
  const x = (t) => left + (t / duration) * (W - left - right);
  const y = (v) => top + ((yMax - Math.min(yMax, Math.max(yMin, v))) / (yMax - yMin)) * (H - top - bottom);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "curve", role: "img",
    "aria-label": `Loudness over time: ${series.map((s) => s.label).join(" and ")}; the target is dashed` });
  const yLabel = (v) => svg("text", { x: left - 4, y: y(v) + 4, "text-anchor": "end" }, formatNumber(v, { digits: 0 }));
  for (const v of [yMax, yMin]) chart.append(svg("line", { class: "grid", x1: left, x2: W - right, y1: y(v), y2: y(v) }), yLabel(v));
  for (let i = 0; i <= 3; i += 1) {
    const anchor = ["start", "middle", "middle", "end"][i];
    chart.append(svg("text", { x: x((duration * i) / 3), y: H - 6, "text-anchor": anchor }, formatTime((duration * i) / 3)));
  }
  if (target !== null) {
    chart.append(svg("line", { class: "target", x1: left, x2: W - right, y1: y(target), y2: y(target) }), yLabel(target));
  }
  for (const s of series) chart.append(svg("path", { class: `line line-${s.kind}`, d: linePath(s, x, y) }));
  const keys = series.map((s) => el("span", { class: `key key-${s.kind}` }, s.label));
  if (target !== null) keys.push(el("span", { class: "key key-target" }, `Target ${formatNumber(target)} LUFS`));
  return el("figure", { class: "chart" }, chart, el("figcaption", { class: "legend" }, ...keys, "LUFS over time (m:ss)"));
}

/** One series as an SVG path; null (silence) lifts the pen. At most ~600 points are drawn, each
 * the largest of the readings it stands for (as the curve itself is decimated). */
function linePath({ values, step }, x, y) {
  const stride = Math.max(1, Math.ceil(values.length / 600));
  let d = "";
  let penDown = false;
  for (let i = 0; i < values.length; i += stride) {
    const group = values.slice(i, i + stride).filter(Number.isFinite);
    if (!group.length) { penDown = false; continue; }
    const end = Math.min(values.length, i + stride);
    d += `${penDown ? "L" : "M"}${x(end * step).toFixed(1)},${y(Math.max(...group)).toFixed(1)}`;
    penDown = true;
  }
  return d;
}
