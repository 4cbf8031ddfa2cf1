// Mending downloads from the admin page: a force-search box on every failed, not-found or
// rejected download (pre-filled with what it searched for), the match table of its import,
// a re-scan of its folder, and the history of finished downloads with paging.
//
// Uses these of admin.js: h(), api(), showBanner(), refresh(), head(), pill(), trackList().
// The lists are rebuilt on every refresh, so what the admin is doing lives here, not in the
// DOM: drafts of the query boxes, open match tables, the focused box (see keepFocus).
"use strict";

const Mend = (() => {
  const HISTORY_STATES = { "": "completed,failed,rejected,cancelled", completed: "completed",
                           failed: "failed", rejected: "rejected", cancelled: "cancelled" };
  const drafts = new Map();      // download key -> {query, artist, title} being typed
  const openTables = new Set();  // download keys whose match table is open
  const tables = new Map();      // download key -> {stamp, data | error}
  const history = { offset: 0, limit: 10, filter: "", total: 0 };
  const KNOWN_REPORT = new Set(["matches", "unmatched_tracks", "rejected_files"]);

  const keyOf = (d) => d.ticket_id || d.submission_id;
  const pathOf = (d) => `/v1/admin/downloads/${encodeURIComponent(keyOf(d))}`;
  const missing = (d) => d.tracks.some((t) => t.availability !== "available" && t.outcome !== "imported");

  function canSearch(d) {
    if (d.replaced_by) return false;
    if (["failed", "rejected", "cancelled"].includes(d.state)) return true;
    return d.state === "completed" && missing(d);
  }
  const canRescan = (d) => d.qt_state === "completed" && ["completed", "failed"].includes(d.state) && missing(d);

  // ---- keeping the admin's place across re-renders -------------------------------------
  function keepFocus(box) {
    const el = document.activeElement;
    const key = el && box.contains(el) ? el.getAttribute("data-keep") : null;
    if (!key) return () => {};
    const [start, end] = [el.selectionStart, el.selectionEnd];
    return () => {
      const again = [...box.querySelectorAll("[data-keep]")].find((x) => x.getAttribute("data-keep") === key);
      if (!again) return;
      again.focus();
      if (start !== null && again.setSelectionRange) again.setSelectionRange(start, end);
    };
  }

  // ---- force-search ----------------------------------------------------------------------
  function searchForm(d) {
    const key = keyOf(d);
    const was = d.query || {};
    const draft = drafts.get(key) || {};
    const field = (name, label, value, maxlength) => {
      const input = h("input", { type: "text", name, maxlength, "aria-label": label, placeholder: label,
                                 "data-keep": `${key}:${name}`, "data-field": name });
      input.value = draft[name] !== undefined ? draft[name] : (value || "");
      input.addEventListener("input", () => drafts.set(key, { ...(drafts.get(key) || {}), [name]: input.value }));
      return input;
    };
    const query = field("query", "Search for", was.description, 500);
    const artist = field("artist", "Artist (expected)", was.artist, 300);
    const title = field("title", "Album title (expected)", was.title, 300);
    const button = h("button", { type: "submit", "data-action": "search" }, "Search again");
    const form = h("form", { class: "search-form", "data-search": key },
      h("div", { class: "reject-row" }, query, button),
      h("details", { class: "search-more" }, h("summary", {}, "Expected artist and title"),
        h("div", { class: "reject-row" }, artist, title)));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = { query: query.value.trim() };
      // Sent only when changed: otherwise the new ticket keeps what the catalog says.
      if (artist.value.trim() && artist.value.trim() !== (was.artist || "")) body.artist = artist.value.trim();
      if (title.value.trim() && title.value.trim() !== (was.title || "")) body.title = title.value.trim();
      button.disabled = true;
      try {
        const res = await api("POST", `${pathOf(d)}/search`, body);
        drafts.delete(key);
        const where = res.download.ticket_id ? `ticket ${res.download.ticket_id}` : "waiting for Quentin Torrentino";
        showBanner(`Searching again for “${body.query}” (${where}).`, "info");
        await refresh();
      } catch (err) {
        showBanner(err.message);
      } finally {
        button.disabled = false;
      }
    });
    return form;
  }

  // ---- the match table -------------------------------------------------------------------
  function cellText(key, value) {
    if (value === null || value === undefined) return "";
    if (Array.isArray(value)) return value.map((v) => cellText(key, v)).join(", ");
    if (typeof value === "number") return key === "confidence" ? value.toFixed(3) : String(Math.round(value * 1000) / 1000);
    if (typeof value === "object") return Object.entries(value).map(([k, v]) => `${k}: ${cellText(k, v)}`).join("; ");
    return String(value);
  }

  // Columns: the preferred ones first, then whatever else the rows carry (new explanation
  // fields of the import report show up without this page knowing them).
  function table(title, rows, preferred, hidden) {
    if (!rows.length) return null;
    const columns = [...preferred];
    for (const row of rows) for (const k of Object.keys(row)) {
      if (!columns.includes(k) && !(hidden || []).includes(k)) columns.push(k);
    }
    return h("div", { class: "match-part" },
      h("h3", {}, title),
      h("div", { class: "table-wrap" }, h("table", { class: "matches" },
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c.replaceAll("_", " "))))),
        h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) => h("td", {}, cellText(c, r[c])))))))));
  }

  function matchView(m) {
    const labels = m.labels || {};
    const report = m.report || {};
    const failed = { ...(m.failed || {}), ...((m.outcome && m.outcome.failed) || {}) };
    const label = (id) => labels[id] || id;
    const matched = (report.matches || []).map((r) => ({ ...r, track: label(r.track_id) || r.track }));
    const notImported = new Map();
    for (const t of report.unmatched_tracks || []) {
      const row = typeof t === "object" && t !== null ? { ...t } : { track_id: t };
      notImported.set(row.track_id, { track: label(row.track_id), reason: failed[row.track_id] || "missing", ...row });
    }
    for (const [id, reason] of Object.entries(failed)) {
      if (!notImported.has(id)) notImported.set(id, { track: label(id), reason, track_id: id });
    }
    const others = Object.entries(report).filter(([k]) => !KNOWN_REPORT.has(k)).map(([k, v]) =>
      Array.isArray(v) && v.every((x) => x && typeof x === "object")
        ? table(k.replaceAll("_", " "), v, [])
        : h("p", { class: "small" }, h("b", {}, `${k.replaceAll("_", " ")}: `), cellText(k, v)));
    return [
      h("p", { class: "muted small" },
        m.source === "dry_run" ? "Dry run of the folder (nothing was moved) · " : `Import ${m.import_state} · `,
        h("code", {}, m.source_dir)),
      table("Matched files", matched, ["file", "track", "signals", "confidence"], ["track_id"])
        || h("p", { class: "empty" }, "No file matched a requested track."),
      table("Tracks not imported", [...notImported.values()], ["track", "reason"], ["track_id"]),
      table("Files not imported", report.rejected_files || [], ["file", "reason", "confidence"], ["track_id"]),
      ...others,
      m.outcome && m.outcome.summary ? h("p", { class: "error" }, m.outcome.summary) : null,
    ];
  }

  function fillTable(key) {
    const hit = tables.get(key);
    // Built anew for each box: a download shows in two lists at once (recent, history).
    const body = () => (hit === undefined || hit.loading ? [h("p", { class: "empty" }, "Loading…")]
      : hit.error ? [h("p", { class: "empty" }, hit.error)] : matchView(hit.data)).filter(Boolean);
    for (const box of document.querySelectorAll(".match-body")) {
      if (box.getAttribute("data-for") === key) box.replaceChildren(...body());
    }
  }

  // A table is fetched when opened, and again when its download ended anew (an import or
  // a re-scan), not on every progress tick: before an import it is a dry run of the folder.
  async function loadTable(d, opened) {
    const key = keyOf(d);
    const stamp = `${d.state}|${d.finished_at}`;
    const hit = tables.get(key);
    if (hit && (hit.loading || (!opened && hit.stamp === stamp))) return fillTable(key);
    tables.set(key, { stamp, loading: true });
    fillTable(key);
    try {
      tables.set(key, { stamp, data: await api("GET", `${pathOf(d)}/matches`) });
    } catch (err) {
      tables.set(key, { stamp, error: err.status === 404 ? "No import planned yet, and no files in its folder." : err.message });
    }
    fillTable(key);
  }

  function matchesToggle(d) {
    const key = keyOf(d);
    const details = h("details", { class: "match-table", "data-matches": key, open: openTables.has(key) },
      h("summary", {}, "How the files matched"),
      h("div", { class: "match-body", "data-for": key }));
    details.addEventListener("toggle", () => {
      if (details.open && !openTables.has(key)) { openTables.add(key); loadTable(d, true); }
      if (!details.open) openTables.delete(key);
    });
    if (openTables.has(key)) queueMicrotask(() => loadTable(d, false));
    return details;
  }

  // ---- re-scan ---------------------------------------------------------------------------
  function rescanButton(d) {
    const button = h("button", { type: "button", class: "ghost small", "data-action": "rescan" }, "Re-scan folder");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const res = await api("POST", `${pathOf(d)}/rescan`, {});
        const got = Object.keys((res.outcome && res.outcome.imported) || {}).length;
        showBanner(res.outcome && res.outcome.summary ? `Re-scanned: ${res.outcome.summary}`
          : `Re-scanned: ${got} of ${res.tracks.length} track(s) imported.`, "info");
        tables.delete(keyOf(d));
        await refresh();
      } catch (err) {
        showBanner(err.message);
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  // Everything a card offers for mending its download.
  function tools(d) {
    return h("div", { class: "mend" },
      canSearch(d) ? searchForm(d) : null,
      canRescan(d) ? h("div", { class: "reject-row" }, rescanButton(d)) : null,
      d.state === "intent" ? null : matchesToggle(d));
  }

  // ---- history ---------------------------------------------------------------------------
  function historyCard(d) {
    const kind = d.state === "completed" ? (missing(d) ? "warn" : "ok") : "bad";
    const ok = d.tracks.filter((t) => t.availability === "available").length;
    return h("article", { class: "card", "data-ticket": keyOf(d), "data-state": d.state },
      ...head(d, pill(`${d.state} · ${ok}/${d.tracks.length}`, kind)),
      h("div", { class: "meta" }, h("span", {}, "Searched for ", h("b", {}, (d.query && d.query.description) || "?")),
        d.finished_at ? h("span", {}, `ended ${new Date(d.finished_at).toLocaleString()}`) : null),
      d.error ? h("p", { class: "error" }, d.error) : null,
      tools(d), trackList(d));
  }

  async function refreshHistory() {
    const box = document.getElementById("history");
    if (!box) return;
    const states = HISTORY_STATES[history.filter] || HISTORY_STATES[""];
    const page = await api("GET",
      `/v1/admin/downloads?state=${states}&limit=${history.limit}&offset=${history.offset}`);
    if (history.offset > 0 && history.offset >= page.total) {     // the page emptied: step back
      history.offset = Math.max(0, page.total - history.limit);
      return refreshHistory();
    }
    history.total = page.total;
    const restore = keepFocus(box);
    box.replaceChildren(...(page.downloads.length ? page.downloads.map(historyCard)
      : [h("p", { class: "empty" }, "No finished downloads.")]));
    restore();
    const last = history.offset + page.downloads.length;
    document.getElementById("n-history").textContent = page.total;
    document.getElementById("history-page").textContent =
      page.total ? `${history.offset + 1}–${last} of ${page.total}` : "";
    document.getElementById("history-newer").disabled = history.offset === 0;
    document.getElementById("history-older").disabled = last >= page.total;
  }

  function pageTo(offset) {
    history.offset = Math.max(0, offset);
    refreshHistory().catch((err) => showBanner(err.message));
  }

  document.addEventListener("DOMContentLoaded", () => {
    const newer = document.getElementById("history-newer");
    if (!newer) return;
    newer.addEventListener("click", () => pageTo(history.offset - history.limit));
    document.getElementById("history-older").addEventListener("click", () => pageTo(history.offset + history.limit));
    document.getElementById("history-filter").addEventListener("change", (ev) => {
      history.filter = ev.currentTarget.value;
      pageTo(0);
    });
  });

  return { tools, keepFocus, refreshHistory };
})();
