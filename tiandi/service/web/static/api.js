// The service's API with the bearer token the user signed in with (kept in
// sessionStorage: gone when the tab closes).

const TOKEN_KEY = "tiandi.token";
const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function authHeaders() {
  const value = token();
  return value ? { Authorization: `Bearer ${value}` } : {};
}

async function request(path, options = {}) {
  const url = path.startsWith("/") || path.startsWith("http") ? path : `${API}/${path}`;
  const response = await fetch(url, {
    ...options,
    headers: { ...authHeaders(), ...(options.headers || {}) },
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

export const api = {
  me: () => request("me"),
  zones: () => request("zones"),
  runs: () => request("runs"),
  patch: (key) => request(`patches/${encodeURIComponent(key)}`),
  layers: (runId) => request(`runs/${encodeURIComponent(runId)}/layers`),
  uavChips: (key) => request(`patches/${encodeURIComponent(key)}/uav`),
  runZones: (runId) => request(`runs/${encodeURIComponent(runId)}/zones`),
  review: (key, body) =>
    request(`patches/${encodeURIComponent(key)}/review`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }),
  async patches(filters) {
    const params = new URLSearchParams({ limit: "1000" });
    for (const [name, value] of Object.entries(filters)) if (value) params.set(name, value);
    let next = `${API}/patches?${params}`;
    const features = [];
    while (next) {
      const url = new URL(next, location.href); // same origin, whatever host the service saw
      const page = await request(url.pathname + url.search);
      features.push(...page.features);
      next = page.next;
    }
    return features;
  },
};

// An image the API serves (chips, tiles) as an object URL, or null when it is absent.
export async function imageUrl(path) {
  const response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) return null;
  return URL.createObjectURL(await response.blob());
}
