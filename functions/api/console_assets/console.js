/* The operator console: a small script over the controller's JSON routes, nothing else.
 * Two pages, chosen by the address's #: the fleet (#/) and one recording (#/recording/<id>).
 * Every request goes to this origin with the browser's own HTTP Basic credentials; every value
 * from the API is written as text (never as HTML). The main element carries data-ready="<page>"
 * once a page is drawn, for the tests and the benchmark. */
"use strict";

const REFRESH_MS = 5000;
const HANDOVER_REASONS = ["handover", "drain", "rotation"];
let timer = null;

function el(tag, attrs, ...children) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, options) {
  const { headers, ...rest } = options || {};
  const reply = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json", ...headers }, ...rest });
  let body = null;
  try { body = await reply.json(); } catch (error) { body = null; }
  return { status: reply.status, ok: reply.ok, body };
}

function seconds(value) { return value === null || value === undefined ? "–" : `${Number(value).toFixed(1)} s`; }
function when(iso) { return iso ? new Date(iso).toLocaleTimeString() : "–"; }
function epochTime(t) { return t ? new Date(t * 1000).toLocaleTimeString() : "–"; }
function ageOf(iso) { return iso ? Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000) : null; }
function state(word, tone) { return el("span", { class: `state ${tone || ""}` }, word); }
function table(caption, headers, rows, empty) {
  if (!rows.length) return el("p", { class: "muted" }, empty);
  return el("div", { class: "scroll" }, el("table", {},
    el("caption", { class: "skip" }, caption),
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c)))))));
}
function show(page, ...content) {
  const main = document.getElementById("main");
  main.replaceChildren(...content.flat(Infinity));
  main.dataset.ready = page;
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}
function notice(text, tone) {
  document.getElementById("notice").replaceChildren(el("span", { class: tone }, text));
}

/* An action an operator takes: asked to confirm, then the API's answer shown, refusals too. */
async function act(question, method, path, body) {
  if (!window.confirm(question)) { notice("Cancelled: nothing was done.", "muted"); return; }
  const reply = await api(path, { method, headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const said = (reply.body && (reply.body.message || reply.body.error)) || `HTTP ${reply.status}`;
  if (reply.ok) notice(`Done (${reply.status}): ${said}`, "done");
  else notice(`Refused (${reply.status}): ${said}`, "refused");
  route(false);
}

function statusTone(status) {
  return { RECORDING: "ok", STARTING: "", FAILING_OVER: "warn", STOPPING: "", STOPPED: "", FAILED: "bad" }[status] || "";
}
function health(session) {
  const h = session.captureHealth || {};
  const restarts = Object.values(h.restarts || {}).reduce((a, b) => a + b, 0);
  const words = [];
  if (h.stillNow) words.push("picture still now");
  if (h.frozenSeconds) words.push(`${h.frozenSeconds} s still so far`);
  words.push(`${restarts || session.captureRestarts || 0} restart(s)`);
  return state(words.join(", "), h.stillNow ? "warn" : "ok");
}

async function fleet() {
  const [live, all, pool, failover, hooks] = await Promise.all([
    api("/api/sessions"), api("/api/sessions/all"), api("/api/standbys"),
    api("/api/failover/status"), api("/openvidu/webhook/status")]);
  const sessions = (live.body && live.body.sessions) || [];
  const byHost = new Map();
  for (const s of sessions) {
    const host = s.clientHost || s.instanceId || "host not told";
    if (!byHost.has(host)) byHost.set(host, []);
    byHost.get(host).push(s);
  }
  const link = (s) => el("a", { href: `#/recording/${encodeURIComponent(s.sessionId)}` }, s.sessionId);
  const hostTables = [...byHost.entries()].sort().map(([host, list]) => [
    el("h3", {}, `${host} (${list.length})`),
    table(`Live recordings on ${host}`, ["Recording", "Status", "Epoch", "Last chunk", "Chunk age", "Capture", "Under way"],
      list.map((s) => [link(s), state(s.status, statusTone(s.status)), s.epoch, s.lastChunk || "none yet",
        seconds(ageOf(s.lastChunkChangedAt)), health(s),
        [s.handover ? `handover to epoch ${s.handover.epoch}` : "", s.shadow ? `shadow epoch ${s.shadow.epoch}` : ""].filter(Boolean).join("; ") || "–"]),
      "")]);
  const recent = ((all.body && all.body.sessions) || []).filter((s) => !s.active)
    .sort((a, b) => (b.lastHeartbeat || "").localeCompare(a.lastHeartbeat || "")).slice(0, 20);
  const guard = failover.body && failover.body.stormGuard;
  const standbys = (pool.body && pool.body.standbys) || [];
  const endpoints = (hooks.body && hooks.body.endpoints) || [];
  const hookHealth = (hooks.body && hooks.body.health) || (hooks.body && hooks.body.enabled ? "healthy" : "no endpoint");
  show("fleet",
    el("h1", {}, "Fleet"),
    el("div", { class: "cards" },
      el("div", { class: "card" }, "Live recordings", el("b", {}, sessions.length), `on ${byHost.size} host(s)`),
      el("div", { class: "card" }, "Standby pool", el("b", {}, `${pool.body ? pool.body.idle : "–"} idle`), `${standbys.length} registered`),
      el("div", { class: "card" }, "Storm guard",
        el("b", {}, guard ? state(guard.engaged ? "engaged" : "calm", guard.engaged ? "bad" : "ok") : "–"),
        guard && guard.engaged ? `since ${when(guard.since)}; ${guard.unheard.length} unheard` : "takeovers as usual"),
      el("div", { class: "card" }, "Customer webhooks",
        el("b", {}, state(hookHealth, { healthy: "ok", failing: "warn", unhealthy: "bad" }[hookHealth] || "")),
        hooks.body ? `${hooks.body.dlqDepth} dead-lettered, ${hooks.body.inFlight} in flight` : "status unavailable")),
    el("h2", {}, "Live recordings by host"),
    hostTables.length ? hostTables : el("p", { class: "muted" }, "No live recording."),
    el("h2", {}, "Recently ended"),
    table("Recently ended recordings", ["Recording", "Status", "Epochs", "Customer told", "Last heard"],
      recent.map((s) => [link(s), state(s.status, statusTone(s.status)), s.epoch, s.customerTerminal || "–", when(s.lastHeartbeat)]),
      "None in the table's retention."),
    el("h2", {}, "Standby pool"),
    table("Standby recorders", ["Standby", "Status", "Host", "Last seen", "Recording"],
      standbys.map((s) => [s.standbyId, state(s.status, s.status === "IDLE" ? "ok" : ""), s.host || "–", epochTime(s.lastSeenAt), s.sessionId || "–"]),
      "No standby registered."),
    el("h2", {}, "Webhook endpoints"),
    table("Webhook endpoints", ["Endpoint", "Health", "Failing since", "Last error"],
      endpoints.map((e) => [e.name, state(e.health || "healthy", { failing: "warn", unhealthy: "bad" }[e.health] || "ok"), e.failingSince ? epochTime(e.failingSince) : "–", e.lastError || "–"]),
      "No endpoint configured."),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "danger", id: "redrive",
        onclick: () => act("Move every dead-lettered webhook back for delivery?", "POST", "/api/webhooks/dlq/redrive", {}) },
        "Redrive the dead letters")));
}

/* The recording's timeline, to scale: one row per recorder (epoch), what each recorder's chunks
 * play in the file, the gaps between recorders, still spans, handovers and takeovers. */
function timeline(manifest, failovers) {
  const chunks = manifest.chunks.filter((c) => c.included && c.wallclockStart !== null);
  if (!chunks.length) return el("p", { class: "muted" }, "No chunk has a wall-clock start: nothing to draw to scale.");
  const played = (c) => (c.playedSeconds !== null && c.playedSeconds !== undefined ? c.playedSeconds : c.duration || 0);
  const t0 = Math.min(...chunks.map((c) => c.wallclockStart));
  const t1 = Math.max(...chunks.map((c) => c.wallclockStart + (c.duration || 0)));
  const epochs = [...new Set(chunks.map((c) => c.epoch))].sort((a, b) => a - b);
  const W = 1000, left = 110, right = 20, row = 34, top = 28;
  const pxPerSecond = (W - left - right) / Math.max(1, t1 - t0);
  const x = (t) => left + (t - t0) * pxPerSecond;
  const y = (epoch) => top + epochs.indexOf(epoch) * row;
  const H = top + epochs.length * row + 60;
  const svg = el("svg:svg", { class: "timeline", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "timeline-title",
    "data-px-per-second": pxPerSecond.toFixed(6) },
    el("svg:title", { id: "timeline-title" }, `Timeline of ${manifest.sessionId}: ${epochs.length} recorder(s), ${manifest.gaps.filter((g) => g.seconds > 0).length} gap(s)`),
    el("svg:defs", {}, el("svg:pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
      el("svg:rect", { width: 6, height: 6, fill: "#fff" }), el("svg:line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#cf222e", "stroke-width": 3 }))));
  const step = Math.max(1, Math.ceil((t1 - t0) / 10 / 5) * 5);
  for (let s = 0; s <= t1 - t0; s += step) {
    svg.append(el("svg:line", { class: "axis", x1: x(t0 + s), x2: x(t0 + s), y1: top - 8, y2: H - 40 }),
      el("svg:text", { x: x(t0 + s), y: H - 26, "text-anchor": "middle" }, `${s} s`));
  }
  for (const epoch of epochs) {
    svg.append(el("svg:text", { x: 4, y: y(epoch) + 17 }, `epoch ${epoch}`));
    for (const c of chunks.filter((k) => k.epoch === epoch)) {
      const cut = played(c) < (c.duration || 0) - 0.05;
      svg.append(el("svg:rect", { class: `span${cut ? " cut" : ""}`, x: x(c.wallclockStart), y: y(epoch) + 4,
        width: Math.max(1, x(c.wallclockStart + played(c)) - x(c.wallclockStart)), height: row - 10 },
        el("svg:title", {}, `chunk ${c.index} of epoch ${epoch}: ${played(c).toFixed(2)} s played${cut ? " (cut: another recorder held that time)" : ""}`)));
    }
  }
  const byKey = new Map(chunks.map((c) => [`${c.index}/${c.epoch}`, c]));
  for (const gap of manifest.gaps.filter((g) => g.seconds > 0)) {
    const before = byKey.get(`${gap.afterChunk}/${gap.fromEpoch}`);
    if (!before) continue;
    const start = before.wallclockStart + played(before);
    const gy = y(gap.toEpoch === null ? epochs[0] : gap.toEpoch) - (gap.toEpoch !== gap.fromEpoch ? row / 2 : 0);
    svg.append(el("svg:rect", { class: "gap", x: x(start), y: gy + 4, width: Math.max(2, x(start + gap.seconds) - x(start)), height: row - 10 }),
      el("svg:text", { x: x(start + gap.seconds) + 4, y: gy + 17 }, `gap ${gap.seconds.toFixed(1)} s`));
  }
  for (const span of manifest.stillSpans || []) {
    if (!epochs.includes(span.epoch) || span.seconds === null) continue;
    svg.append(el("svg:rect", { class: "still", x: x(span.start), y: y(span.epoch) + row - 8, width: Math.max(2, x(span.start + span.seconds) - x(span.start)), height: 5 }),
      el("svg:text", { x: x(span.start), y: y(span.epoch) + row + 6 }, `still ${span.seconds} s`));
  }
  for (const f of failovers) {
    const at = f.runningAt || f.at;
    if (at < t0 || at > t1 || f.outcome !== "running") continue;
    const word = HANDOVER_REASONS.includes(f.reason) ? "handover" : "takeover";
    svg.append(el("svg:line", { class: "mark", x1: x(at), x2: x(at), y1: top - 14, y2: H - 40 }),
      el("svg:text", { x: x(at) + 3, y: top - 16 }, `${word} to epoch ${f.epoch}`));
  }
  return el("div", { class: "scroll" }, svg);
}

async function recording(id) {
  const path = `/api/sessions/${encodeURIComponent(id)}`;
  const [session, files, hooks] = await Promise.all([api(path), api(`${path}/manifest`), api(`${path}/webhooks`)]);
  if (!session.ok) {
    show("recording", el("h1", {}, id), el("p", { class: "refused" }, `The controller answered ${session.status}: ${(session.body && session.body.error) || "no such recording"}.`));
    return;
  }
  const s = session.body;
  const manifest = files.ok ? files.body.manifest : null;
  const gaps = manifest ? manifest.gaps.filter((g) => g.seconds > 0) : [];
  const webhooks = (hooks.body && hooks.body.webhooks) || [];
  show("recording",
    el("h1", {}, `Recording ${s.sessionId}`),
    el("dl", { class: "facts" },
      el("dt", {}, "Status"), el("dd", {}, state(s.status, statusTone(s.status)), s.active ? " (live)" : " (ended)"),
      el("dt", {}, "Epoch"), el("dd", {}, `${s.epoch} (${s.failovers.length} takeover(s) and handover(s))`),
      el("dt", {}, "Host"), el("dd", {}, s.clientHost || "–", s.instanceId ? ` (${s.instanceId})` : ""),
      el("dt", {}, "Customer told"), el("dd", {}, s.customerTerminal || "nothing final yet"),
      el("dt", {}, "File"), el("dd", {}, manifest
        ? [`${seconds(manifest.duration)}, ${manifest.chunks.length} chunk(s) from ${manifest.epochs.length} recorder(s), `,
           el("span", { id: "gap-total" }, `${gaps.length} gap(s) totalling ${seconds(gaps.reduce((a, g) => a + g.seconds, 0))}`)]
        : "not finalized yet")),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "danger", id: "take-over",
        onclick: () => act(`Take ${id} over now? Its recorder is fenced and a backup records from the next chunk.`, "POST", `/api/failover/${encodeURIComponent(id)}`) },
        "Take over now"),
      el("button", { type: "button", id: "stop-backup",
        onclick: () => act(`Stop the backup recorder of ${id}? It finishes its chunk and finalizes.`, "DELETE", `/api/failover/backup/${encodeURIComponent(id)}`) },
        "Stop the backup")),
    el("h2", {}, "Timeline"),
    manifest ? timeline(manifest, s.failovers) : el("p", { class: "muted" }, "Drawn once a recorder finalizes the recording (its manifest in S3)."),
    el("h2", {}, "Takeovers and handovers"),
    table("Takeover history", ["Epoch", "Why", "Claimed", "Outcome", "From chunk", "Took", "Detail"],
      s.failovers.map((f) => [f.epoch, f.reason, epochTime(f.at), state(f.outcome, f.outcome === "running" ? "ok" : "warn"), f.startChunk,
        f.runningAt ? seconds(f.runningAt - f.at) : "–", f.detail || (f.standbyId ? `warm standby ${f.standbyId}` : "–")]),
      "None: one recorder held it throughout."),
    el("h2", {}, "Customer webhooks"),
    table("Customer webhooks in order", ["Came in", "Event", "Endpoint", "State", "Attempts", "Detail"],
      webhooks.map((w) => [epochTime(w.receivedAt), [w.event || "–", w.status ? ` ${w.status}` : ""].join(""), w.endpoint,
        state(w.state, w.state === "delivered" ? "ok" : w.state === "dead-lettered" ? "bad" : "warn"), w.attempts, w.detail || "–"]),
      "No webhook of this recording has been relayed."),
    el("h2", {}, "Files and logs"),
    files.ok
      ? el("ul", {}, files.body.final ? el("li", {}, el("a", { href: files.body.final, id: "final-file" }, "The final file")) : el("li", {}, "The final file is not in S3"),
          Object.entries(files.body.logs).map(([key, href]) => el("li", {}, el("a", { href }, key))))
      : el("p", { class: "muted" }, "No file yet."));
}

async function route(focus) {
  clearTimeout(timer);
  const match = location.hash.match(/^#\/recording\/(.+)$/);
  try {
    if (match) await recording(decodeURIComponent(match[1]));
    else await fleet();
  } catch (error) {
    show("error", el("h1", {}, "The controller did not answer"), el("p", {}, String(error)));
  }
  if (focus) document.getElementById("main").focus();
  if (!match) timer = setTimeout(() => route(false), REFRESH_MS);
}

window.addEventListener("hashchange", () => { document.getElementById("notice").replaceChildren(); route(true); });
route(false);
