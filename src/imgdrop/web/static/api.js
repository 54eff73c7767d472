// The JSON API client the pages share: CSRF header, error shape, session expiry.

const meta = document.querySelector('meta[name="csrf-token"]');
export const csrfToken = meta ? meta.content : "";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Turn any failed response into an ApiError carrying the server's human message.
export async function errorFrom(response) {
  let code = "error";
  let message = `The server answered ${response.status}.`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // Not JSON (a proxy page?): keep the generic message.
  }
  return new ApiError(response.status, code, sentence(message));
}

// Server and browser messages read as sentences: a capital first letter and a full stop.
export function sentence(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) return "";
  const first = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?…]$/.test(first) ? first : `${first}.`;
}

// Call /api/*; returns parsed JSON (or null for 204). A lost session goes back to sign-in.
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "Cannot reach the server. Check your connection.");
  }
  if (response.status === 401 && csrfToken) {
    window.location.assign("/signin");
  }
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

// "48 of 120 MB": both numbers in the unit of the larger one.
export function formatBytesPair(part, whole) {
  if (whole < 1024 * 1024) return `${Math.round(part / 1024)} of ${Math.round(whole / 1024)} KB`;
  const mb = (n) => Number((n / 1024 / 1024).toFixed(whole >= 100 * 1024 * 1024 ? 0 : 1));
  return `${mb(part)} of ${mb(whole)} MB`;
}

export function plural(n, one, many = `${one}s`) {
  return `${n.toLocaleString("en")} ${n === 1 ? one : many}`;
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${Number((n / 1024 / 1024).toFixed(1))} MB`;
}
