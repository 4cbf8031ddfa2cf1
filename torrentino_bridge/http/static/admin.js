// The admin page: asks for the admin token once (kept in sessionStorage), follows the admin event
// stream (Server-Sent Events; no polling) and renders the lists from the admin API whenever the
// stream says something changed. DOM is built with textContent only, never HTML from data.
"use strict";

const TOKEN_KEY = "torrentino-bridge.admin-token";
const LIVE_STATES = "intent,active,needs_approval,importing,failed";

const $ = (id) => document.getElementById(id);
let busy = false;
const detailCache = new Map();   // ticket id -> {updated_at, detail}

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const init = { method, headers: { Authorization: `Bearer ${token()}` } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let data = null;
  try { data = await resp.json(); } catch (_) { /* not JSON */ }
  if (!resp.ok) {
    if (resp.status === 401) signOut("The token was refused. " + ((data && data.error) || ""));
    throw new ApiError(resp.status, (data && data.error) || `HTTP ${resp.status}`);
  }
  return data;
}

// ---- formatting --------------------------------------------------------------------------
function size(bytes) {
  if (bytes === null || bytes === undefined) return "?";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0, n = bytes;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(n >= 10 || i === 0 ? 0 : 1)} ${units[i]}`;
}
function when(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  return isNaN(d) ? ts : d.toLocaleString();
}
function albumTitle(d) {
  const a = d.album || {};
  return a.name ? `${a.artist || "Unknown artist"} — ${a.name}${a.year ? ` (${a.year})` : ""}` : d.album.id;
}
function users(d) {
  const names = [...new Set((d.requests || []).map((r) => r.user_id))];
  return names.length ? names.join(", ") : "no request";
}
function trackList(d) {
  return h("details", {},
    h("summary", {}, `${d.tracks.length} track${d.tracks.length === 1 ? "" : "s"}`),
    h("ol", { class: "tracks" }, d.tracks.map((t) =>
      h("li", {}, `${t.title || t.track_id} · ${t.availability}${t.error ? ` · ${t.error}` : ""}`))));
}
function head(d, pill) {
  return [
    h("div", { class: "card-head" },
      h("span", { class: "card-title" }, albumTitle(d)), pill),
    h("div", { class: "meta" },
      h("span", {}, "Requested by ", h("b", {}, users(d))),
      h("span", {}, "Ticket ", h("code", {}, d.ticket_id || "(not yet accepted)")),
      h("span", {}, when(d.updated_at))),
  ];
}
function bar(pct) {
  const fillEl = h("span", {});
  fillEl.style.width = `${pct === null ? 0 : pct}%`;   // CSSOM: allowed by the page's CSP
  return fillEl;
}
function pill(text, kind) { return h("span", { class: `pill ${kind || ""}` }, text); }

// ---- actions -----------------------------------------------------------------------------
async function act(button, method, path, body, done) {
  button.disabled = true;
  try {
    await api(method, path, body);
    showBanner(done, "info");
    detailCache.clear();
    await refresh();
  } catch (err) {
    showBanner(err.message);
  } finally {
    button.disabled = false;
  }
}
const ticketPath = (d) => `/v1/admin/downloads/${encodeURIComponent(d.ticket_id || d.submission_id)}`;

let bannerTimer = null;
function showBanner(text, kind) {
  const el = $("banner");
  el.textContent = text;
  el.className = `banner ${kind || ""}`;
  el.hidden = !text;
  clearTimeout(bannerTimer);
  if (text && kind === "info") bannerTimer = setTimeout(() => showBanner(""), 4000);
}

// ---- sections ----------------------------------------------------------------------------
function approvalCard(d, detail) {
  const candidates = (detail && detail.candidates) || [];
  const rec = detail ? detail.recommended_idx : null;
  const reason = h("input", { type: "text", placeholder: "Reason (optional)", maxlength: 500,
                               "aria-label": "Reason for rejecting" });
  return h("article", { class: "card", "data-ticket": d.ticket_id, "data-state": d.state },
    ...head(d, pill(`${candidates.length} candidates`, "warn")),
    h("div", { class: "candidates" }, candidates.length ? candidates.map((c) =>
      h("div", { class: `candidate${c.index === rec ? " recommended" : ""}`, "data-candidate": c.index },
        h("div", { class: "c-title" }, c.title || "(untitled)", c.index === rec ? " " : "",
          c.index === rec ? pill("recommended", "ok") : null),
        h("div", { class: "c-stats" },
          h("span", {}, "score ", h("b", {}, c.score === null ? "?" : Number(c.score).toFixed(2))),
          h("span", {}, "seeders ", h("b", {}, c.seeders === null ? "?" : c.seeders)),
          h("span", {}, "size ", h("b", {}, size(c.size_bytes)))),
        c.reasoning ? h("div", { class: "c-reason" }, c.reasoning) : null,
        h("div", { class: "c-actions" },
          h("button", { type: "button", "data-action": "approve", onclick: (ev) =>
            act(ev.currentTarget, "POST", `${ticketPath(d)}/approve`, { candidate_idx: c.index },
                `Approved “${c.title}”.`) }, "Approve"))))
      : h("p", { class: "empty" }, "Loading candidates…")),
    h("div", { class: "reject-row" }, reason,
      h("button", { type: "button", class: "danger", "data-action": "reject", onclick: (ev) =>
        act(ev.currentTarget, "POST", `${ticketPath(d)}/reject`,
            reason.value.trim() ? { reason: reason.value.trim() } : {}, "Rejected.") }, "Reject all")),
    trackList(d));
}

function activeCard(d) {
  const pct = d.progress === null || d.progress === undefined ? null : Math.max(0, Math.min(100, d.progress));
  const phase = d.state === "intent" ? "waiting to be sent" : (d.phase || d.qt_state || d.state);
  return h("article", { class: "card", "data-ticket": d.ticket_id || d.submission_id, "data-state": d.state,
                        "data-submission": d.submission_id },
    ...head(d, pill(phase.replaceAll("_", " "), "phase")),
    h("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
               "aria-valuenow": pct === null ? null : Math.round(pct) },
      bar(pct)),
    h("div", { class: "progress-label" }, progressText(pct, null, null)),
    d.error ? h("p", { class: "error" }, d.error) : null,
    d.state === "importing" ? null : h("div", { class: "reject-row" },
      h("button", { type: "button", class: "danger small", "data-action": "cancel", onclick: (ev) =>
        act(ev.currentTarget, "POST", `${ticketPath(d)}/cancel`, {}, "Cancelled.") }, "Cancel")),
    Mend.tools(d),
    trackList(d));
}

function failedCard(d) {
  return h("article", { class: "card", "data-ticket": d.ticket_id || d.submission_id, "data-state": d.state },
    ...head(d, pill("failed", "bad")),
    h("p", { class: "error" }, d.error || "failed"),
    h("div", { class: "reject-row" },
      h("button", { type: "button", "data-action": "retry", onclick: (ev) =>
        act(ev.currentTarget, "POST", `${ticketPath(d)}/retry`, undefined, "Retry started.") }, "Retry")),
    Mend.tools(d),
    trackList(d));
}

function doneCard(d) {
  const ok = d.tracks.filter((t) => t.availability === "available").length;
  return h("article", { class: "card", "data-ticket": d.ticket_id, "data-state": d.state },
    ...head(d, pill(`${ok}/${d.tracks.length} available`, ok === d.tracks.length ? "ok" : "warn")),
    d.error ? h("p", { class: "error" }, d.error) : null,
    Mend.tools(d));
}

function fill(id, items, render, emptyText) {
  const box = $(id);
  const restore = Mend.keepFocus(box);   // a query box being typed in keeps its focus
  box.replaceChildren(...(items.length ? items.map(render) : [h("p", { class: "empty" }, emptyText)]));
  restore();
}

function limitCell(effective, override) {
  return h("td", { class: override === null || override === undefined ? "" : "overridden" }, effective);
}

function renderUsers(list) {
  const body = $("users").querySelector("tbody");
  body.replaceChildren(...(list.length ? list.map((u) => h("tr", {},
    h("td", {}, u.user_id),
    limitCell(u.effective.requests_per_day, u.override && u.override.requests_per_day),
    limitCell(u.effective.max_pending, u.override && u.override.max_pending),
    h("td", {}, u.usage.requests_last_24h),
    h("td", {}, u.usage.open_requests),
    h("td", {}, h("button", { type: "button", class: "ghost small", onclick: () => editUser(u) }, "Edit"))))
    : [h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No users yet."))]));
}

function editUser(u) {
  const form = $("limits-form");
  form.user_id.value = u.user_id;
  form.requests_per_day.value = u.override && u.override.requests_per_day !== null ? u.override.requests_per_day : "";
  form.max_pending.value = u.override && u.override.max_pending !== null ? u.override.max_pending : "";
  form.requests_per_day.focus();
}

async function details(list) {
  // Candidates come with the details of each ticket waiting for approval (cached per update).
  return Promise.all(list.map(async (d) => {
    const key = d.ticket_id || d.submission_id;
    const hit = detailCache.get(key);
    if (hit && hit.updated_at === d.updated_at) return hit.detail;
    const detail = await api("GET", `/v1/admin/downloads/${encodeURIComponent(key)}`);
    detailCache.set(key, { updated_at: d.updated_at, detail });
    return detail;
  }));
}

async function refresh() {
  if (!token()) return;
  if (busy) { again = true; return; }
  busy = true;
  try {
    const [live, done, userList] = await Promise.all([
      api("GET", `/v1/admin/downloads?state=${LIVE_STATES}&limit=200`),
      api("GET", "/v1/admin/downloads?state=completed&limit=10"),
      api("GET", "/v1/admin/users"),
    ]);
    const approval = live.downloads.filter((d) => d.state === "needs_approval");
    const active = live.downloads.filter((d) => ["intent", "active", "importing"].includes(d.state));
    const failed = live.downloads.filter((d) => d.state === "failed");
    const approvalDetails = await details(approval);
    fill("approval", approval.map((d, i) => [d, approvalDetails[i]]), ([d, x]) => approvalCard(d, x),
         "Nothing waits for approval.");
    fill("active", active, activeCard, "No active downloads.");
    fill("failed", failed, failedCard, "No failed downloads.");
    fill("done", done.downloads, doneCard, "Nothing completed yet.");
    $("n-approval").textContent = approval.length;
    $("n-active").textContent = active.length;
    $("n-failed").textContent = failed.length;
    renderUsers(userList.users);
    await Mend.refreshHistory();
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    if (!$("banner").classList.contains("info")) showBanner("");
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) showBanner(`Cannot reach the bridge: ${err.message}`);
  } finally {
    busy = false;
  }
  refreshHealth();
  if (again) { again = false; refresh(); }
}

async function refreshHealth() {
  const el = $("health");
  try {
    const resp = await fetch("/readyz");
    const data = await resp.json();
    const bad = Object.entries(data.components || {}).filter(([, c]) => !c.ok).map(([k]) => k);
    el.textContent = data.ready ? "ready" : `not ready: ${bad.join(", ")}`;
    el.className = `pill ${data.ready ? "ok" : "bad"}`;
  } catch (_) {
    el.textContent = "unreachable";
    el.className = "pill bad";
  }
}

// ---- sign in / out -----------------------------------------------------------------------
function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  disconnectEvents();
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").focus();
}

function signIn() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  refresh();
  connectEvents();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = $("token").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("token").value = "";
    signIn();
  });
  $("logout").addEventListener("click", () => signOut(""));
  $("limits-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const num = (v) => (v.trim() === "" ? null : Number(v));
    const user = form.user_id.value.trim();
    const button = form.querySelector("button");
    await act(button, "PUT", `/v1/admin/users/${encodeURIComponent(user)}/limits`,
      { requests_per_day: num(form.requests_per_day.value), max_pending: num(form.max_pending.value) },
      `Limits saved for ${user}.`);
  });
  if (token()) signIn(); else signOut("");
  refreshHealth();
});

// ---- live events -------------------------------------------------------------------------
// The admin event stream replaces polling: `progress` moves a bar in place; `download`,
// `status` and `snapshot` (first, and whenever the stream cannot resume) reload the lists.
// EventSource cannot send the token, so each connection opens with a single-use ticket
// fetched with it; after an error the page reconnects with a fresh ticket and the last event
// id, so nothing is missed.
let source = null;
let lastEventId = null;
let retryMs = 1000;
let reconnectTimer = null;
let refreshTimer = null;
let again = false;

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 250);      // a burst of changes: one reload
}

function speed(bps) {
  return bps ? `${size(bps)}/s` : null;
}

function eta(secs) {
  if (secs === null || secs === undefined) return null;
  const m = Math.floor(secs / 60), sec = Math.round(secs % 60);
  return `ETA ${m}:${String(sec).padStart(2, "0")}`;
}

function progressText(pct, bps, etaSecs) {
  const parts = [pct === null || pct === undefined ? "progress unknown" : `${Number(pct).toFixed(0)}%`,
                 speed(bps), eta(etaSecs)];
  return parts.filter(Boolean).join(" · ");
}

function showProgress(p) {
  const card = document.querySelector(`#active article[data-submission="${CSS.escape(p.submission_id)}"]`);
  if (!card) { scheduleRefresh(); return; }
  const pct = p.percent === null || p.percent === undefined ? null : Math.max(0, Math.min(100, p.percent));
  const bar = card.querySelector(".progress");
  if (pct !== null) {
    bar.setAttribute("aria-valuenow", Math.round(pct));
    bar.firstChild.style.width = `${pct}%`;
  }
  card.querySelector(".progress-label").textContent = progressText(pct, p.speed_bps, p.eta_secs);
  if (p.phase) card.querySelector(".pill.phase").textContent = p.phase.replaceAll("_", " ");
}

function onEvent(handler) {
  return (ev) => {
    if (ev.lastEventId) lastEventId = ev.lastEventId;
    retryMs = 1000;
    let data = null;
    try { data = JSON.parse(ev.data); } catch (_) { return; }
    handler(data);
  };
}

async function connectEvents() {
  disconnectEvents();
  if (!token()) return;
  let ticket;
  try {
    ticket = (await api("POST", "/v1/admin/events/ticket")).ticket;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) reconnectLater();
    return;
  }
  const params = new URLSearchParams({ ticket });
  if (lastEventId) params.set("last_event_id", lastEventId);
  source = new EventSource(`/v1/admin/events?${params}`);
  source.addEventListener("open", () => { $("updated").textContent = "live"; });
  source.addEventListener("snapshot", onEvent(() => refresh()));
  source.addEventListener("progress", onEvent(showProgress));
  source.addEventListener("download", onEvent(scheduleRefresh));
  source.addEventListener("status", onEvent(scheduleRefresh));
  source.addEventListener("error", () => {
    // The ticket was used by this connection: the browser's own retry would be refused.
    disconnectEvents();
    $("updated").textContent = "reconnecting…";
    reconnectLater();
  });
}

function reconnectLater() {
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(connectEvents, retryMs);
  retryMs = Math.min(retryMs * 2, 30000);
}

function disconnectEvents() {
  clearTimeout(reconnectTimer);
  if (source) { source.close(); source = null; }
}
