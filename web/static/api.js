// Talking to the REST API (web/API.md): JSON requests with the session cookie, and its errors.

/** An error answer of the API (`{"error": {code, message}}`) or of the object store. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    Object.assign(this, { status, code, retryAfter });
  }
}
/** No answer at all (offline, server restarting, connection reset): worth retrying. */
export class NetworkError extends Error {}

export const trackPath = (id, rest = "") => `/api/v1/tracks/${encodeURIComponent(id)}${rest}`;

let unauthorized = () => {};

/** What to do on a 401 (the session ended, if one was open); called before the error is thrown. */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

export async function api(method, path, { body, headers = {} } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try { response = await fetch(path, init); } catch { throw new NetworkError("network"); }
  const text = await response.text().catch(() => "");
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: no details */ }
  if (response.ok) return data;
  const e = (data && data.error) || {};
  const error = new ApiError(response.status, e.code || `http_${response.status}`,
    e.message || `the server answered ${response.status}`, response.headers.get("Retry-After"));
  if (response.status === 401) unauthorized();
  throw error;
}
