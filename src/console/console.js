// GPT_API console: plain JavaScript, no build step. Reads the gateway's /admin/ JSON
// endpoints with the admin key as a bearer token (kept in sessionStorage for this tab only)
// and draws its charts as SVG itself.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { key: sessionStorage.getItem("gpt-api-admin-key") || "", view: "now", timer: null, before: null, loads: 0 };

// === API ===
async function api(path) {
  const response = await fetch(path, { headers: { authorization: "Bearer " + state.key } });
  if (response.status === 401 || response.status === 403) {
    signOut("Wrong admin key");
    throw new Error("unauthorized");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((body.error && body.error.message) || "HTTP " + response.status);
  return body;
}

// === DOM helpers ===
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value; else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child === null || child === undefined ? "" : child);
  return node;
}
function svg(tag, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}
const fmt = {
  num: (v, digits = 0) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits })),
  ms: (v) => (v === null || v === undefined ? "–" : v >= 1000 ? (v / 1000).toFixed(2) + " s" : v.toFixed(v < 10 ? 2 : 0) + " ms"),
  pct: (v) => (v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%"),
  usd: (v) => (v === null || v === undefined ? "–" : "$" + Number(v).toFixed(4)),
};
function table(node, headers, rows) {
  node.replaceChildren(el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))));
  const body = el("tbody");
  for (const row of rows) body.append(row instanceof Node ? row : el("tr", {}, ...row.map(cell)));
  node.append(body);
  return body;
}
function cell(value) {
  if (value instanceof Node) return value;
  const numeric = typeof value === "number" || /^[\d$.,–%]+( ms| s)?$/.test(String(value));
  return el("td", numeric ? { class: "num" } : {}, value);
}

// === Charts (SVG) ===
function lineChart(node, points, format) {
  node.replaceChildren();
  const width = node.clientWidth || 400, height = node.clientHeight || 160, pad = 34;
  if (points.length < 2) {
    node.append(svg("text", { x: pad, y: height / 2 }, "collecting samples…"));
    return;
  }
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1] || 0);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), top = Math.max(...ys) * 1.1 || 1;
  const x = (v) => pad + ((v - x0) / (x1 - x0 || 1)) * (width - pad - 8);
  const y = (v) => height - 16 - (v / top) * (height - 28);
  const path = points.map((p, i) => (i ? "L" : "M") + x(p[0]).toFixed(1) + "," + y(p[1] || 0).toFixed(1)).join("");
  node.append(
    svg("line", { class: "axis", x1: pad, x2: width - 8, y1: height - 16, y2: height - 16 }),
    svg("path", { class: "area", d: path + "L" + x(x1) + "," + y(0) + "L" + x(x0) + "," + y(0) + "Z" }),
    svg("path", { class: "line", d: path }),
    svg("text", { x: 2, y: 12 }, format(top / 1.1)),
    svg("text", { x: 2, y: height - 18 }, "0"),
    svg("text", { x: pad, y: height - 2 }, new Date(x0).toISOString().slice(11, 19)),
    svg("text", { x: width - 60, y: height - 2 }, new Date(x1).toISOString().slice(11, 19)),
  );
}
function barChart(node, bars, format) {
  node.replaceChildren();
  const width = node.clientWidth || 400, row = 18;
  node.style.height = Math.max(40, bars.length * row + 8) + "px";
  const top = Math.max(...bars.map((b) => b[1] || 0), 0) || 1, label = 130;
  bars.forEach(([name, value], i) => {
    const w = ((value || 0) / top) * (width - label - 90);
    node.append(
      svg("text", { x: 0, y: i * row + 13 }, String(name).slice(0, 22)),
      svg("rect", { class: "bar", x: label, y: i * row + 3, width: Math.max(w, 1), height: row - 6 }),
      svg("text", { x: label + w + 6, y: i * row + 13 }, format(value)),
    );
  });
}

// === Now ===
async function refreshNow() {
  const now = await api("/admin/now");
  const total = now.total;
  $("now-rps").textContent = fmt.num(total.requests_per_s, 1);
  $("now-errors").textContent = fmt.pct(total.error_rate);
  $("now-latency").textContent = fmt.ms(total.latency_p50_ms) + " / " + fmt.ms(total.latency_p95_ms);
  $("now-ttft").textContent = fmt.ms(total.ttft_p50_ms) + " / " + fmt.ms(total.ttft_p95_ms);
  $("now-connections").textContent = fmt.num(now.open_connections);
  const log = now.log;
  $("now-log").textContent = fmt.num(log.queue_depth) + " / " + (log.spilling ? fmt.num(log.spilled_rows) + " spilled" : "none");
  $("now-window").textContent = "Last " + Math.round(now.window_s) + " s, sampled every " + now.sampled_every_s +
    " s · " + fmt.num(total.requests) + " requests · database " + log.database;
  $("status-line").textContent = "database " + log.database + (log.spilling ? " · spilling" : "");
  const series = now.series.map((s) => [s.at_ms, s.figures.requests_per_s]);
  lineChart($("chart-rps"), series, (v) => fmt.num(v, 1));
  lineChart($("chart-latency"), now.series.map((s) => [s.at_ms, s.figures.latency_p95_ms]), (v) => fmt.num(v, 0));
  const groupRows = (groups) => groups.map((g) => [g.name || "(none)", fmt.num(g.figures.requests_per_s, 2), fmt.pct(g.figures.error_rate),
    fmt.pct(g.figures.client_error_rate), fmt.ms(g.figures.latency_p50_ms), fmt.ms(g.figures.latency_p95_ms), fmt.ms(g.figures.ttft_p50_ms), fmt.ms(g.figures.ttft_p95_ms)]);
  const headers = ["name", "req/s", "5xx", "4xx", "latency p50", "p95", "TTFT p50", "p95"];
  table($("now-models"), ["model", ...headers.slice(1)], groupRows(now.models));
  table($("now-upstreams"), ["upstream", ...headers.slice(1)], groupRows(now.upstreams));
  table($("now-breakers"), ["model", "target", "state", "workers open"], now.breakers.map((b) =>
    [b.model, b.target, el("td", { class: "state-" + b.state }, b.state.replace("_", "-")), b.workers_open + " of " + b.workers]));
}

// === Usage ===
async function refreshUsage() {
  const seconds = Number($("usage-range").value), group = $("usage-group").value;
  const until = Math.floor(Date.now() / 1000);
  const usage = await api("/admin/usage?group_by=" + group + "&since=" + (until - seconds) + "&until=" + until);
  const rows = usage.data || [];
  barChart($("chart-usage-tokens"), rows.map((r) => [r.group || r[group] || "(none)", r.total_tokens]), (v) => fmt.num(v));
  barChart($("chart-usage-cost"), rows.map((r) => [r.group || r[group] || "(none)", r.cost_usd]), fmt.usd);
  table($("usage-table"), [group, "requests", "errors", "prompt tokens", "completion tokens", "total tokens", "cost"],
    rows.map((r) => [r.group || r[group] || "(none)", fmt.num(r.requests), fmt.num(r.errors), fmt.num(r.prompt_tokens),
      fmt.num(r.completion_tokens), fmt.num(r.total_tokens), fmt.usd(r.cost_usd)]));
  // Each key's limits, what remains of them this minute, and its spend (`GET /admin/keys`).
  const keys = await api("/admin/keys").catch(() => null);
  $("usage-keys-section").hidden = !keys || !(keys.data || []).length;
  if (!keys) return;
  table($("usage-keys"), ["key", "rpm", "tpm", "concurrent", "budget", "spent", "remaining"], (keys.data || []).map((k) => {
    const budget = k.limits.budget, spend = k.spend;
    const unit = budget && budget.usd !== undefined ? "usd" : "tokens";
    return [k.key, fmt.num(k.limits.rpm), fmt.num(k.limits.tpm), fmt.num(k.limits.max_concurrent),
      budget ? budget[unit] + " " + unit.toUpperCase() + "/" + budget.period : "–",
      unit === "usd" ? fmt.usd(spend.usd) : fmt.num(spend.tokens), budget ? fmt.num(spend.remaining, 4) : "–"];
  }));
}

// === Requests ===
// The filter as a query string; spaces as %20 (the gateway reads `+` as a plus sign).
function requestQuery(before) {
  const params = [];
  const put = (name, value) => { if (value) params.push(name + "=" + encodeURIComponent(value)); };
  for (const [name, id] of [["key", "filter-key"], ["model", "filter-model"], ["upstream", "filter-upstream"],
    ["status", "filter-status"], ["endpoint", "filter-endpoint"], ["error", "filter-error"]]) put(name, $(id).value.trim());
  // datetime-local inputs hold the UTC time the page asks for, without a zone.
  for (const [name, id] of [["since", "filter-since"], ["until", "filter-until"]]) {
    const value = $(id).value;
    if (value) put(name, value + (value.length === 16 ? ":00Z" : "Z"));
  }
  put("before", before);
  return params.join("&");
}
function statusClass(status) {
  return status >= 500 ? "status-bad" : status >= 400 ? "status-client" : "status-ok";
}
async function loadRequests(more) {
  const query = requestQuery(more ? state.before : null);
  // Only the latest load may draw: an earlier one answering late must not replace it.
  const load = ++state.loads;
  $("requests-error").hidden = true;
  let page;
  try {
    page = await api("/admin/requests?" + query);
    if (load !== state.loads) return;
  } catch (error) {
    $("requests-error").textContent = error.message;
    $("requests-error").hidden = false;
    return;
  }
  const headers = ["time (UTC)", "key", "endpoint", "model", "upstream", "status", "latency", "TTFT", "tokens", "attempts", "error"];
  let body = $("requests-table").querySelector("tbody");
  if (!more || !body) body = table($("requests-table"), headers, []);
  for (const r of page.data) {
    const row = el("tr", { "data-id": r.id }, ...[r.created_at.replace("T", " ").slice(0, 23), r.client_key || "–", r.endpoint, r.model || "–",
      r.upstream || "–"].map(cell), el("td", { class: "num " + statusClass(r.status) }, r.status),
      ...[fmt.ms(r.latency_ms), fmt.ms(r.ttft_ms), fmt.num(r.total_tokens), r.attempts].map(cell), el("td", { title: r.error || "" }, r.error || ""));
    row.addEventListener("click", () => openRequest(r.id));
    body.append(row);
  }
  state.before = page.next_before;
  $("requests-more").hidden = !page.has_more;
}
function pretty(text, missing) {
  if (text === null || text === undefined) return missing;
  if (typeof text !== "string") return JSON.stringify(text, null, 2);
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}
async function openRequest(id) {
  const r = await api("/admin/requests/" + encodeURIComponent(id));
  $("detail").hidden = false;
  $("detail-title").textContent = r.id;
  const facts = [["time", r.created_at], ["key", r.client_key], ["endpoint", r.endpoint], ["model", r.model],
    ["upstream", (r.upstream || "–") + (r.upstream_model ? " / " + r.upstream_model : "")], ["status", r.status],
    ["latency", fmt.ms(r.latency_ms)], ["TTFT", fmt.ms(r.ttft_ms)], ["stream", r.stream ? "yes" : "no"],
    ["tokens", fmt.num(r.prompt_tokens) + " in / " + fmt.num(r.completion_tokens) + " out" + (r.usage_estimated ? " (estimated in part)" : "")],
    ["cost", fmt.usd(r.cost_usd)], ["finish", r.finish_reason], ["cancelled", r.cancelled ? "yes" : "no"],
    ["malformed", r.malformed ? "yes" : "no"], ["error", r.error]];
  $("detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v === null || v === undefined ? "–" : String(v))]));
  drawTimeline(r);
  const notStored = "(not stored: database.store_content = false)";
  $("detail-request").textContent = pretty(r.request_body, notStored);
  $("detail-answer").textContent = r.response_content === null ? (r.status < 400 ? notStored : "–") : r.response_content;
  $("detail-reasoning").textContent = r.reasoning_content === null ? "–" : r.reasoning_content;
  $("detail-tools").textContent = r.tool_calls === null ? "–" : pretty(r.tool_calls, "–");
  $("detail").scrollIntoView({ behavior: "smooth" });
}
function drawTimeline(r) {
  const node = $("timeline"), list = $("timeline-list"), attempts = r.attempts || [];
  node.replaceChildren();
  list.replaceChildren();
  const end = Math.max(r.latency_ms || 0, ...attempts.map((a) => a.start_ms + a.duration_ms), 1);
  const width = node.clientWidth || 600;
  const x = (ms) => (ms / end) * (width - 4) + 2;
  attempts.forEach((a, i) => {
    const failed = a.outcome !== "ok";
    const kind = a.continuation ? "attempt-continuation" : failed && !a.mid_stream ? "attempt-failed" : "attempt-ok";
    const bar = svg("rect", { class: "attempt " + kind, x: x(a.start_ms), y: 6, width: Math.max(x(a.start_ms + a.duration_ms) - x(a.start_ms), 2), height: 20 });
    bar.append(svg("title", {}, a.target + ": " + a.outcome));
    node.append(bar);
    const barWidth = x(a.start_ms + a.duration_ms) - x(a.start_ms);
    if (barWidth > 60) node.append(svg("text", { class: "bar-label", x: x(a.start_ms) + 4, y: 20 }, a.target + " · " + a.outcome));
    if (a.mid_stream) node.append(svg("line", { class: "break", x1: x(a.start_ms + a.duration_ms), x2: x(a.start_ms + a.duration_ms), y1: 2, y2: 30 }));
    const what = a.outcome === "ok" ? "answered" : a.outcome.replace("_", " ") + (a.mid_stream ? ", broke mid-stream" : "");
    list.append(el("li", { class: "attempt-item" }, a.target + " — ", el("span", { class: "outcome" }, what),
      " at " + fmt.ms(a.start_ms) + ", took " + fmt.ms(a.duration_ms) + (a.continuation ? " (recovery: continued the stream)" : "") + (a.error ? " — " + a.error : "")));
  });
  if (!attempts.length) list.append(el("li", {}, (r.tried && r.tried.length ? r.tried.join(" → ") : "no upstream attempt") + " (no timing recorded)"));
}

// === Navigation and sign-in ===
function show(view) {
  state.view = view;
  for (const name of ["now", "usage", "requests"]) {
    $("view-" + name).hidden = name !== view;
    $("tab-" + name).classList.toggle("active", name === view);
  }
  clearInterval(state.timer);
  if (view === "now") { refreshNow().catch(() => {}); state.timer = setInterval(() => refreshNow().catch(() => {}), 2000); }
  if (view === "usage") refreshUsage().catch((e) => console.error(e));
  if (view === "requests") loadRequests(false);
}
function signOut(message) {
  clearInterval(state.timer);
  state.key = "";
  sessionStorage.removeItem("gpt-api-admin-key");
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("login-error").hidden = !message;
}
async function signIn(key) {
  state.key = key;
  try {
    await api("/admin/now");
  } catch (error) {
    if (error.message !== "unauthorized") signOut(error.message);
    return;
  }
  sessionStorage.setItem("gpt-api-admin-key", key);
  $("login").hidden = true;
  $("app").hidden = false;
  show("now");
}

$("login-form").addEventListener("submit", (event) => { event.preventDefault(); signIn($("login-key").value); });
$("logout").addEventListener("click", () => signOut());
for (const name of ["now", "usage", "requests"]) $("tab-" + name).addEventListener("click", () => show(name));
$("usage-form").addEventListener("submit", (event) => { event.preventDefault(); refreshUsage().catch((e) => console.error(e)); });
$("requests-form").addEventListener("submit", (event) => { event.preventDefault(); loadRequests(false); });
$("requests-more").addEventListener("click", () => loadRequests(true));
$("detail-close").addEventListener("click", () => { $("detail").hidden = true; });
if (state.key) signIn(state.key);
