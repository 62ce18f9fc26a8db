// Shared by the analyst pages (search, reports feed, daily report): texts in Indonesian and
// English, the el() helper, local times and numbers, API calls that say clearly when a login is
// needed, and safe rendering of the search highlights. Plain JS module, no build step.

const TEXT = {
  id: {
    nav_board: "Papan situasi", nav_feed: "Laporan", nav_search: "Pencarian", nav_daily: "Laporan harian",
    all: "Semua", error: "Gagal memuat data", login_needed: "Halaman ini perlu login.",
    forbidden: "Akun Anda tidak berhak melihat data ini. Masuk dengan akun lain:", login: "Masuk",
    regency: "Kabupaten/kota", category: "Kategori", severity: "Keparahan", severity_min: "Keparahan min.",
    no_reports: "Tidak ada laporan", reports_unit: "laporan",
  },
  en: {
    nav_board: "Situation board", nav_feed: "Reports", nav_search: "Search", nav_daily: "Daily report",
    all: "All", error: "Could not load the data", login_needed: "This page needs a login.",
    forbidden: "Your account may not see this data. Log in with another account:", login: "Log in",
    regency: "Regency/city", category: "Category", severity: "Severity", severity_min: "Min. severity",
    no_reports: "No reports", reports_unit: "reports",
  },
};

export const state = {
  lang: localStorage.getItem("sitrep.lang") === "en" ? "en" : "id",
  timezone: "Asia/Makassar",
  labels: null,
};

export const $ = (id) => document.getElementById(id);
export const t = (key) => TEXT[state.lang][key] ?? TEXT.id[key] ?? key;
export const locale = () => (state.lang === "id" ? "id-ID" : "en-GB");

/** Adds a page's own texts to the shared ones. */
export function addTexts(texts) {
  for (const lang of Object.keys(TEXT)) Object.assign(TEXT[lang], texts[lang]);
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

/** The label of a wire code (category, kind, phase, severity, level, ...) in the page's language. */
export function label(kind, code) {
  const names = state.labels && state.labels[kind] && state.labels[kind][String(code)];
  return names ? names[state.lang] : String(code ?? "");
}

export function localTime(iso, { date = true, seconds = false } = {}) {
  if (!iso) return "—";
  const options = { timeZone: state.timezone, hour: "2-digit", minute: "2-digit" };
  if (seconds) options.second = "2-digit";
  if (date) Object.assign(options, { day: "numeric", month: "short", year: "numeric" });
  return new Intl.DateTimeFormat(locale(), options).format(new Date(iso));
}

export function localDay(iso, options = { day: "numeric", month: "short" }) {
  return new Intl.DateTimeFormat(locale(), { timeZone: state.timezone, ...options }).format(new Date(iso));
}

export const number = (value) => new Intl.NumberFormat(locale()).format(value);

export const areaName = (report) =>
  [report.regency && report.regency.name, report.kecamatan && report.kecamatan.name].filter(Boolean).join(" / ");

// --- API -----------------------------------------------------------------------------------

export class LoginRequired extends Error {
  constructor(status) {
    super(`HTTP ${status}`);
    this.status = status;
  }
}

export async function api(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (response.status === 401 || response.status === 403) throw new LoginRequired(response.status);
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new Error((problem.error && problem.error.message) || problem.detail || `HTTP ${response.status}`);
  }
  return response.json();
}

/** Shows what went wrong above the page; a login link when the API wants one. */
export function showProblem(error) {
  const box = $("problem");
  if (!error) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  box.hidden = false;
  if (error instanceof LoginRequired) {
    const next = encodeURIComponent(location.pathname + location.search);
    box.dataset.kind = "login";
    box.replaceChildren(
      `${t(error.status === 401 ? "login_needed" : "forbidden")} `,
      el("a", { href: `/login?next=${next}`, id: "login-link" }, t("login")));
  } else {
    box.dataset.kind = "error";
    box.replaceChildren(`${t("error")}: ${error.message}`);
  }
}

/** The province layout (regencies) from the board snapshot; also sets the operation's zone. */
export async function loadProvince() {
  const board = await api("/v1/board");
  state.timezone = board.timezone || state.timezone;
  return board.province;
}

export async function loadLabels() {
  state.labels = await api("/pages/labels.json");
}

/** Restores a filter form from the address, loads what fills it (labels, the province's
 * regencies) and fills it with ``fill(province)``; null, with the problem shown, on failure. */
export async function setUpFilters(form, fill) {
  restoreForm(form);
  try {
    const [, province] = await Promise.all([loadLabels(), loadProvince()]);
    fill(province);
    return province;
  } catch (error) {
    showProblem(error);
    return null;
  }
}

// --- forms and the address bar --------------------------------------------------------------

export function fillSelect(select, options, emptyText) {
  const chosen = select.value || select.dataset.wanted || "";
  delete select.dataset.wanted; // from the address bar: only until the options exist
  select.replaceChildren(
    el("option", { value: "" }, emptyText),
    ...options.map(([value, text]) => el("option", { value }, text)));
  select.value = options.some(([value]) => value === chosen) ? chosen : "";
}

export const labelOptions = (kind) =>
  Object.keys((state.labels && state.labels[kind]) || {}).map((code) => [code, label(kind, code)]);

export const severityOptions = () => ["1", "2", "3", "4", "5"].map((s) => [s, label("severity", s)]);

export const regencyOptions = (province) => province.regencies.map((r) => [r.code, r.name]);

/** The form's filled fields as query parameters. */
export function formParams(form) {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) if (String(value).trim()) params.append(name, String(value).trim());
  return params;
}

/** Puts the address bar's parameters into the form (selects not filled yet keep them). */
export function restoreForm(form) {
  const params = new URLSearchParams(location.search);
  for (const field of form.elements) {
    if (!field.name || !params.has(field.name)) continue;
    field.value = params.get(field.name);
    field.dataset.wanted = params.get(field.name);
  }
}

export function rememberParams(params) {
  const query = params.toString();
  history.replaceState(null, "", query ? `${location.pathname}?${query}` : location.pathname);
}

// --- texts and language ----------------------------------------------------------------------

export function applyTexts() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
  for (const node of document.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  $("lang").textContent = state.lang === "id" ? "EN" : "ID";
}

/** The ID/EN switch, kept in the browser like the board's. */
export function setUpLanguage(onChange) {
  applyTexts();
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "id" ? "en" : "id";
    localStorage.setItem("sitrep.lang", state.lang);
    applyTexts();
    onChange();
  });
}

// --- highlights ------------------------------------------------------------------------------

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", "#39": "'", "#x27": "'" };

function unescapeHtml(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name) => {
    const lower = name.toLowerCase();
    if (lower in ENTITIES) return ENTITIES[lower];
    const code = lower.startsWith("#x") ? parseInt(lower.slice(2), 16) : lower.startsWith("#") ? parseInt(lower.slice(1), 10) : NaN;
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

/** The API's highlight (HTML-escaped text with <mark> around matched words) as DOM nodes:
 * only the <mark> tags become elements, everything else stays text, so a report can never
 * inject markup into the page. */
export function highlighted(markup) {
  const fragment = document.createDocumentFragment();
  let inside = false;
  for (const piece of markup.split(/(<\/?mark>)/)) {
    if (piece === "<mark>") inside = true;
    else if (piece === "</mark>") inside = false;
    else if (piece) fragment.append(inside ? el("mark", {}, unescapeHtml(piece)) : unescapeHtml(piece));
  }
  return fragment;
}
