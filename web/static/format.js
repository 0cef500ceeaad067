// Numbers and messages as the page shows them: a real minus sign, units, sentence case.

export const MINUS = "\u2212";

/** One decimal and a real minus sign; null is "−∞" (silence has no loudness). */
export function formatNumber(value, { sign = false, digits = 1, empty = `${MINUS}∞` } = {}) {
  if (!Number.isFinite(value)) return empty;
  const text = Math.abs(value).toFixed(digits);
  if (Number(text) === 0) return text; // neither "−0.0" nor "+0.0"
  return value < 0 ? MINUS + text : (sign ? "+" : "") + text;
}

export function formatBytes(n) {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return n < 1e9 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e9).toFixed(2)} GB`;
}

export function formatTime(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** The server writes messages in lower case, to be embedded; shown alone they get a capital. */
export function sentence(text) {
  const t = String(text || "something went wrong").trim();
  return t.charAt(0).toUpperCase() + t.slice(1);
}
