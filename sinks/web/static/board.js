// The situation board: a snapshot, then live changes from /v1/live (Server-Sent Events).
// Plain JS, no build step; every asset comes from this service.
"use strict";

const TEXT = {
  id: {
    title: "Situasi Terkini", board: "Papan situasi", alerts: "Peringatan", resolved: "Selesai (24 jam)",
    latest_reports: "Laporan terbaru", close: "Tutup", login: "Masuk", logout: "Keluar", save: "Simpan",
    mute: "Bisukan", unmute: "Bunyikan",
    live: "LANGSUNG", stale: "DATA BASI", since: "sejak", connecting: "MENYAMBUNG…", no_kafka: "server terputus dari Kafka",
    score: "Skor", open: "Insiden terbuka", last_report: "Laporan terakhir", last_check_in: "Lapor diri terakhir",
    never: "belum ada", no_data: "BELUM ADA DATA", ago: "lalu", min: "mnt", hour: "jam", day: "hari",
    ack: "Terima", acked_by: "diterima oleh", ack_failed: "Gagal menerima peringatan",
    province: "Provinsi", areas_at: "wilayah", no_alerts: "Tidak ada peringatan aktif", evidence: "Bukti",
    no_reports: "Belum ada laporan", critical: "KRITIS", warning: "WASPADA", trend: "Skor tertinggi 24 jam", phase: "Tahap",
    nav_board: "Papan situasi", nav_feed: "Laporan", nav_search: "Pencarian", nav_daily: "Laporan harian",
  },
  en: {
    title: "Current situation", board: "Situation board", alerts: "Alerts", resolved: "Resolved (24 h)",
    latest_reports: "Latest reports", close: "Close", login: "Log in", logout: "Log out", save: "Save",
    mute: "Mute", unmute: "Unmute",
    live: "LIVE", stale: "STALE DATA", since: "since", connecting: "CONNECTING…", no_kafka: "server lost Kafka",
    score: "Score", open: "Open incidents", last_report: "Last report", last_check_in: "Last check-in",
    never: "none yet", no_data: "NO DATA YET", ago: "ago", min: "min", hour: "h", day: "d",
    ack: "Acknowledge", acked_by: "acknowledged by", ack_failed: "Could not acknowledge",
    province: "Province", areas_at: "areas", no_alerts: "No active alerts", evidence: "Evidence",
    no_reports: "No reports yet", critical: "CRITICAL", warning: "WARNING", trend: "24 h highest score", phase: "Phase",
    nav_board: "Situation board", nav_feed: "Reports", nav_search: "Search", nav_daily: "Daily report",
  },
};
const LEVELS = ["AMAN", "WASPADA", "SIAGA", "AWAS", "TIDAK ADA KABAR"];
const ICONS = { AMAN: "✔", WASPADA: "!", SIAGA: "▲", AWAS: "⚠", "TIDAK ADA KABAR": "?" };
const LEVEL_EN = { AMAN: "normal", WASPADA: "advisory", SIAGA: "watch", AWAS: "warning", "TIDAK ADA KABAR": "no contact" };
const STALE_AFTER_MS = 15000;

const state = {
  lang: localStorage.getItem("sitrep.lang") || "id",
  muted: localStorage.getItem("sitrep.muted") === "1",
  // An operator token (sitrep operators add) for kiosks and scripts; people log in at /login.
  token: localStorage.getItem("sitrep.token") || "",
  user: null,
  timezone: "Asia/Makassar",
  province: null,
  statuses: new Map(),
  alerts: new Map(),
  selected: null,
  lastMessageAt: 0,
  serverConnected: false,
  staleSince: null,
  snapshotSeen: false,
  streamDown: false,
  trends: {},
};

const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[state.lang][key] || key;
const locale = () => (state.lang === "id" ? "id-ID" : "en-GB");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function localTime(iso, withDate = false) {
  if (!iso) return t("never");
  const options = { timeZone: state.timezone, hour: "2-digit", minute: "2-digit" };
  if (withDate) Object.assign(options, { day: "numeric", month: "short" });
  return new Intl.DateTimeFormat(locale(), options).format(new Date(iso));
}

function age(iso) {
  if (!iso) return t("never");
  const minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000));
  if (minutes < 60) return `${minutes} ${t("min")} ${t("ago")}`;
  if (minutes < 48 * 60) return `${Math.round(minutes / 60)} ${t("hour")} ${t("ago")}`;
  return `${Math.round(minutes / 1440)} ${t("day")} ${t("ago")}`;
}

const number = (value, digits = 1) =>
  new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value);

function levelLabel(level) {
  return state.lang === "en" ? `${level} (${LEVEL_EN[level]})` : level;
}

// --- rendering -----------------------------------------------------------------------------

function tile(area, small) {
  const status = state.statuses.get(area.code);
  const level = status ? status.level : null;
  const body = status
    ? [
        el("div", { class: "level" }, `${ICONS[level]} ${levelLabel(level)}`),
        el("dl", {},
          el("dt", {}, t("score")), el("dd", {}, number(status.score)),
          el("dt", {}, t("open")), el("dd", {}, number(status.open_incidents, 0)),
          el("dt", {}, t("last_report")), el("dd", {}, age(status.last_report_at)),
          el("dt", {}, t("last_check_in")), el("dd", {}, age(status.last_check_in_at))),
      ]
    : [el("div", { class: "level" }, t("no_data"))];
  const trend = !small && state.trends[area.code];
  if (trend) body.push(sparkline(trend));
  return el(small ? "div" : "button",
    { class: "tile", "data-area": area.code, "data-level": level, type: small ? null : "button",
      onclick: small ? null : () => select(area.code) },
    el("h3", {}, area.name), ...body);
}

// 24 h of hourly maximum scores as a line; hours without a status carry the last value on.
function sparkline(values) {
  const NS = "http://www.w3.org/2000/svg";
  const filled = [];
  let last = 0;
  for (const value of values) { if (value !== null) last = value; filled.push(last); }
  const top = Math.max(1, ...filled);
  const step = filled.length > 1 ? 100 / (filled.length - 1) : 100;
  const points = filled.map((v, i) => `${(i * step).toFixed(1)},${(28 - (v / top) * 26).toFixed(1)}`);
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 100 30");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${t("trend")}: ${number(Math.max(...filled))}`);
  const line = document.createElementNS(NS, "polyline");
  line.setAttribute("points", points.join(" "));
  svg.append(line);
  return svg;
}

async function loadTrends() {
  try {
    const response = await fetch("/v1/board/trend");
    if (!response.ok) return;
    const context = await response.json();
    state.trends = context.trends;
    state.phase = context.phase;
    renderBoard();
    renderTexts();
    if (trendsMissing()) scheduleTrends(); else trendRetries = 0;
  } catch (error) { /* the board works without its sparklines */ }
}

// A regency without a sparkline yet gets one soon after its status arrives: the history is
// indexed a moment later, so ask again every few seconds for a while (at most one request at
// a time, whatever the rate of changes).
const TREND_RETRY_MS = 3000;
const TREND_RETRIES = 15;
let trendsPending = null;
let trendRetries = 0;
function scheduleTrends() {
  if (trendsPending !== null || trendRetries >= TREND_RETRIES) return;
  trendRetries += 1;
  trendsPending = setTimeout(() => { trendsPending = null; loadTrends(); }, TREND_RETRY_MS);
}

function trendsMissing() {
  return state.province.regencies.some((r) => state.statuses.has(r.code) && !state.trends[r.code]);
}

function renderBoard() {
  if (!state.province) return;
  $("province-name").textContent = state.province.name;
  $("tiles").replaceChildren(...state.province.regencies.map((r) => tile(r, false)));
  renderSummary();
  renderDetail();
}

function renderSummary() {
  const counts = Object.fromEntries(LEVELS.map((level) => [level, 0]));
  for (const regency of state.province.regencies) {
    const status = state.statuses.get(regency.code);
    if (status) counts[status.level] += 1;
  }
  const province = state.statuses.get(state.province.code);
  const parts = LEVELS.filter((level) => counts[level]).map((level) => `${ICONS[level]} ${levelLabel(level)}: ${counts[level]}`);
  const head = province ? `${t("province")}: ${ICONS[province.level]} ${levelLabel(province.level)} · ` : "";
  $("summary").textContent = head + parts.join(" · ");
}

function renderDetail() {
  const regency = state.province && state.province.regencies.find((r) => r.code === state.selected);
  $("detail").hidden = !regency;
  if (!regency) return;
  $("detail-title").textContent = regency.name;
  $("district-tiles").replaceChildren(...regency.districts.map((d) => tile(d, true)));
}

async function loadReports(code) {
  const list = $("reports");
  list.replaceChildren();
  try {
    const response = await fetch(`/v1/feed?regency=${encodeURIComponent(code)}&size=10&lang=${state.lang}`);
    if (!response.ok) throw new Error(String(response.status));
    const page = await response.json();
    if (!page.hits.length) list.append(el("li", {}, t("no_reports")));
    for (const hit of page.hits) {
      list.append(el("li", { "data-report": hit.report_id },
        `${localTime(hit.occurred_at, true)} · ${hit.category_label || ""} · ${hit.text || ""}`));
    }
  } catch (error) {
    list.append(el("li", {}, `${t("no_reports")} (${error.message})`));
  }
}

function select(code) {
  state.selected = state.selected === code ? null : code;
  renderDetail();
  if (state.selected) loadReports(code);
}

function alertItem(alert) {
  const message = state.lang === "en" ? alert.message_en : alert.message_id;
  const tierText = alert.tier === "critical" ? t("critical") : t("warning");
  const meta = [alert.area_name || alert.area_code, localTime(alert.first_fired_at, true)];
  if (alert.acknowledged_by) meta.push(`${t("acked_by")} ${alert.acknowledged_by} ${localTime(alert.acknowledged_at)}`);
  const item = el("li", { class: "alert", "data-alert": alert.alert_id, "data-tier": alert.tier, "data-state": alert.state },
    el("strong", {}, `${alert.tier === "critical" ? "⚠" : "!"} ${tierText} · ${alert.rule_name}`),
    el("div", {}, message),
    el("div", { class: "meta" }, meta.join(" · ")));
  if (alert.evidence_report_ids && alert.evidence_report_ids.length) {
    item.append(el("div", { class: "meta" }, `${t("evidence")}: ${alert.evidence_report_ids.slice(0, 5).join(", ")}`));
  }
  if (alert.state === "firing") {
    item.append(el("button", { type: "button", class: "ack", onclick: () => acknowledge(alert.alert_id) }, t("ack")));
  }
  return item;
}

function renderAlerts() {
  const all = [...state.alerts.values()];
  const active = all.filter((a) => a.state !== "resolved").sort((a, b) =>
    (a.tier === b.tier ? 0 : a.tier === "critical" ? -1 : 1) || Date.parse(b.updated_at) - Date.parse(a.updated_at));
  const resolved = all.filter((a) => a.state === "resolved").sort((a, b) => Date.parse(b.updated_at) - Date.parse(a.updated_at));
  $("alerts").replaceChildren(...(active.length ? active.map(alertItem) : [el("li", {}, t("no_alerts"))]));
  $("resolved").replaceChildren(...resolved.map(alertItem));
}

function renderTexts() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("lang").textContent = state.lang === "id" ? "EN" : "ID";
  $("mute").textContent = state.muted ? t("unmute") : t("mute");
  $("mute").setAttribute("aria-pressed", String(state.muted));
  const signedIn = state.user || state.token;
  $("login-button").textContent = signedIn ? t("logout") : t("login");
  $("user").textContent = state.user ? `${state.user.name} (${state.user.role})` : "";
  $("phase").textContent = state.phase ? `${t("phase")}: ${state.phase[state.lang]}` : "";
}

function renderAll() {
  renderTexts();
  renderBoard();
  renderAlerts();
  renderConnection();
}

function renderConnection() {
  const node = $("connection");
  const fresh = !state.streamDown && Date.now() - state.lastMessageAt < STALE_AFTER_MS;
  if (fresh && state.serverConnected) {
    state.staleSince = null;
    node.dataset.state = "live";
    node.textContent = t("live");
  } else if (!state.snapshotSeen) {
    node.dataset.state = "connecting";
    node.textContent = t("connecting");
  } else {
    state.staleSince = state.staleSince || state.lastMessageAt || Date.now();
    node.dataset.state = "stale";
    const why = state.serverConnected ? "" : ` (${t("no_kafka")})`;
    node.textContent = `${t("stale")} ${t("since")} ${localTime(new Date(state.staleSince).toISOString())}${why}`;
  }
}

function tick() {
  $("clock").textContent = new Intl.DateTimeFormat(locale(), {
    timeZone: state.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  }).format(new Date()).replace("GMT+8", "WITA");
  renderConnection();
}

// --- live updates --------------------------------------------------------------------------

function newer(known, record) {
  return !known || Date.parse(record.updated_at) >= Date.parse(known.updated_at);
}

function applyStatus(status) {
  const known = state.statuses.get(status.area_code);
  if (!newer(known, status)) return;
  state.statuses.set(status.area_code, status);
  if (status.area_level === "regency" && !state.trends[status.area_code]) {
    trendRetries = 0; // news of this regency: worth asking again
    scheduleTrends();
  }
  const changed = known && known.level !== status.level;
  renderBoard();
  if (changed) {
    const node = document.querySelector(`.tile[data-area="${status.area_code}"]`);
    if (node) node.classList.add("flash");
  }
}

function applyAlert(alert) {
  const known = state.alerts.get(alert.alert_id);
  if (!newer(known, alert)) return;
  state.alerts.set(alert.alert_id, alert);
  renderAlerts();
  const isNewCritical = alert.tier === "critical" && alert.state === "firing" && (!known || known.state !== "firing");
  if (isNewCritical && state.snapshotSeen) cue(alert.alert_id);
}

function cue(alertId) {
  const node = document.querySelector(`.alert[data-alert="${CSS.escape(alertId)}"]`);
  if (node) node.classList.add("new-critical");
  if (state.muted) return;
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    tone.frequency.value = 880;
    tone.connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.6);
  } catch (error) { /* no audio device: the visual cue stays */ }
}

function onSnapshot(snapshot) {
  state.timezone = snapshot.timezone || state.timezone;
  state.province = snapshot.province;
  state.serverConnected = snapshot.connected;
  state.statuses = new Map();
  for (const status of snapshot.statuses) state.statuses.set(status.area_code, status);
  const before = state.alerts;
  state.alerts = new Map();
  for (const alert of snapshot.alerts) state.alerts.set(alert.alert_id, alert);
  state.snapshotSeen = true;
  renderAll();
  loadTrends();
  for (const alert of snapshot.alerts) {
    const known = before.get(alert.alert_id);
    if (before.size && alert.tier === "critical" && alert.state === "firing" && !known) cue(alert.alert_id);
  }
}

function connect() {
  const source = new EventSource("/v1/live");
  const seen = (handler) => (event) => {
    state.lastMessageAt = Date.now();
    state.streamDown = false;
    handler(JSON.parse(event.data));
    renderConnection();
  };
  source.addEventListener("snapshot", seen(onSnapshot));
  // A change can only come from a server that reads Kafka.
  source.addEventListener("status", seen((s) => { state.serverConnected = true; applyStatus(s); }));
  source.addEventListener("alert", seen((a) => { state.serverConnected = true; applyAlert(a); }));
  source.addEventListener("ping", seen((ping) => { state.serverConnected = ping.connected; }));
  // EventSource reconnects by itself (the server asks for 2 s); the badge shows stale meanwhile.
  source.onerror = () => { state.streamDown = true; renderConnection(); };
}

// --- actions -------------------------------------------------------------------------------

async function acknowledge(alertId) {
  if (!state.user && !state.token) { location.assign("/login?next=/"); return; }
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  // Otherwise the session cookie of the login goes along (same site).
  const response = await fetch(`/v1/alerts/${encodeURIComponent(alertId)}/ack`, {
    method: "POST", headers, body: "{}",
  });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    // Inline, not a modal dialog: a wall screen must never wait for a click.
    const item = document.querySelector(`.alert[data-alert="${CSS.escape(alertId)}"]`);
    if (item) item.append(el("div", { class: "ack-error", role: "alert" },
      `${t("ack_failed")}: ${problem.message || problem.detail || response.status}`));
  }
  // The acknowledged state arrives on the live stream once the worker has recorded it.
}

async function whoAmI() {
  try {
    const response = await fetch("/v1/me", { headers: { Accept: "application/json" } });
    state.user = response.ok ? await response.json() : null;
  } catch (error) { state.user = null; }
  renderTexts();
}

function setUp() {
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "id" ? "en" : "id";
    localStorage.setItem("sitrep.lang", state.lang);
    renderAll();
  });
  $("mute").addEventListener("click", () => {
    state.muted = !state.muted;
    localStorage.setItem("sitrep.muted", state.muted ? "1" : "0");
    renderTexts();
  });
  $("login-button").addEventListener("click", async () => {
    if (!state.user && !state.token) { location.assign("/login?next=/"); return; }
    if (state.token) { state.token = ""; localStorage.removeItem("sitrep.token"); }
    if (state.user) { await fetch("/v1/logout", { method: "POST" }); state.user = null; }
    renderTexts();
  });
  whoAmI();
  $("detail-close").addEventListener("click", () => select(state.selected));
  renderTexts();
  tick();
  setInterval(tick, 1000);
  setInterval(() => { if (state.province) renderBoard(); }, 30000); // ages move on
  setInterval(loadTrends, 300000);
  connect();
}

setUp();
