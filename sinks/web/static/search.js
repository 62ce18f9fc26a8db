// Analyst search: /v1/search with filters, facets, a date histogram, highlighted results,
// paging by cursor, report detail (/v1/reports/{id}) and the CSV export of the same filters.
import {
  $, addTexts, api, areaName, el, fillSelect, formParams, highlighted, label, labelOptions, localDay,
  localTime, number, regencyOptions, rememberParams, setUpFilters, setUpLanguage, severityOptions,
  showProblem, state, t,
} from "./pages.js";

addTexts({
  id: {
    title: "Pencarian laporan", search: "Cari", query_label: "Kata kunci",
    query_placeholder: "mis. bentrok \"kantor bawaslu\" -hoaks", kind: "Jenis", phase: "Tahapan",
    severity_max: "Keparahan maks.", from: "Dari tanggal", to: "Sampai tanggal", sort: "Urutan",
    reset: "Hapus filter", facets: "Rincian", results: "Hasil", more: "Lebih banyak", close: "Tutup",
    sort_auto: "Otomatis", sort_relevance: "Paling cocok", sort_newest: "Terbaru", sort_oldest: "Terlama",
    sort_severity: "Paling parah", interval: "Histogram per", interval_hour: "Jam", interval_day: "Hari",
    interval_week: "Minggu", interval_month: "Bulan", found: "laporan ditemukan", shown: "ditampilkan",
    export: "Ekspor CSV", rows: "baris", histogram: "Laporan per waktu", max: "maks.",
    per_hour: "jam", per_day: "hari", per_week: "minggu", per_month: "bulan",
    occurred: "Waktu kejadian", received: "Diterima", area: "Wilayah", village: "Desa/kelurahan",
    tps: "TPS", source: "Sumber", reporter: "Pelapor", report_id: "ID laporan", incident: "Insiden",
    incident_reports: "Laporan lain dalam insiden ini", none: "Tidak ada",
  },
  en: {
    title: "Report search", search: "Search", query_label: "Search words",
    query_placeholder: "e.g. bentrok \"kantor bawaslu\" -hoaks", kind: "Kind", phase: "Phase",
    severity_max: "Max. severity", from: "From date", to: "To date", sort: "Order",
    reset: "Clear filters", facets: "Breakdown", results: "Results", more: "More", close: "Close",
    sort_auto: "Automatic", sort_relevance: "Best match", sort_newest: "Newest", sort_oldest: "Oldest",
    sort_severity: "Most severe", interval: "Histogram by", interval_hour: "Hour", interval_day: "Day",
    interval_week: "Week", interval_month: "Month", found: "reports found", shown: "shown",
    export: "Export CSV", rows: "rows", histogram: "Reports over time", max: "max.",
    per_hour: "hour", per_day: "day", per_week: "week", per_month: "month",
    occurred: "Occurred", received: "Received", area: "Area", village: "Village",
    tps: "Polling station", source: "Source", reporter: "Reporter", report_id: "Report id", incident: "Incident",
    incident_reports: "Other reports of this incident", none: "None",
  },
});

const PAGE_SIZE = 20;
const SORTS = ["relevance", "newest", "oldest", "severity"];
const INTERVALS = ["hour", "day", "week", "month"];
const MIN_SLOTS = 24;
const HOUR_MS = 3600 * 1000;
const DAY_MS = 24 * HOUR_MS;

const search = { province: null, params: new URLSearchParams(), page: null, hits: [], cursor: null, seq: 0, detailId: null };
const form = () => $("search-form");

// --- filters ---------------------------------------------------------------------------------

function fillFilters(province) {
  fillSelect($("regency"), regencyOptions(province), t("all"));
  fillSelect($("category"), labelOptions("category"), t("all"));
  fillSelect($("kind"), labelOptions("kind"), t("all"));
  fillSelect($("phase"), labelOptions("phase"), t("all"));
  fillSelect($("severity_min"), severityOptions(), "—");
  fillSelect($("severity_max"), severityOptions(), "—");
  fillSelect($("sort"), SORTS.map((s) => [s, t(`sort_${s}`)]), t("sort_auto"));
  fillSelect($("interval"), INTERVALS.map((i) => [i, t(`interval_${i}`)]), t("sort_auto"));
}

/** A facet click adds its filter, a second click on the same one removes it again. */
function facetFilter(group, key) {
  const value = String(key);
  if (group === "severity") {
    const active = $("severity_min").value === value && $("severity_max").value === value;
    $("severity_min").value = active ? "" : value;
    $("severity_max").value = active ? "" : value;
  } else {
    $(group).value = $(group).value === value ? "" : value;
  }
  run();
}

function facetActive(group, key) {
  const value = String(key);
  if (group === "severity") return $("severity_min").value === value && $("severity_max").value === value;
  return $(group).value === value;
}

// --- rendering -------------------------------------------------------------------------------

function renderFacets(facets) {
  const groups = [["regency", t("regency")], ["category", t("category")], ["severity", t("severity")]];
  $("facet-groups").replaceChildren(...groups.filter(([group]) => facets[group] && facets[group].length).map(([group, title]) =>
    el("div", { class: "facet-group", "data-facet-group": group },
      el("h3", {}, title),
      el("ul", {}, ...facets[group].map((bucket) => el("li", {},
        el("button", {
          type: "button", class: "facet", "data-facet": group, "data-key": bucket.key,
          "aria-pressed": String(facetActive(group, bucket.key)), onclick: () => facetFilter(group, bucket.key),
        }, el("span", { class: "facet-label" }, bucket.label || String(bucket.key)),
        el("span", { class: "count" }, number(bucket.count)))))))));
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

function bucketUnit(buckets) {
  const step = buckets.length > 1 ? Date.parse(buckets[1].start) - Date.parse(buckets[0].start) : DAY_MS;
  if (step < DAY_MS - HOUR_MS) return "hour";
  if (step < 2 * DAY_MS) return "day";
  return step < 8 * DAY_MS ? "week" : "month";
}

function renderHistogram(buckets) {
  $("histogram").hidden = !buckets.length;
  if (!buckets.length) return;
  const unit = bucketUnit(buckets);
  const when = (bucket) => unit === "hour" ? localTime(bucket.start)
    : localDay(bucket.start, unit === "month" ? { month: "long", year: "numeric" } : { day: "numeric", month: "short", year: "numeric" });
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const bars = buckets.map((bucket, i) => {
    const height = bucket.count ? Math.max(2, (bucket.count / max) * 96) : 0;
    return svg("rect", { x: i * 10 + 1, y: 100 - height, width: 8, height, "data-count": bucket.count, "data-start": bucket.start },
      svg("title", {}, `${when(bucket)}: ${number(bucket.count)}`));
  });
  const width = Math.max(buckets.length, MIN_SLOTS) * 10; // a lone bucket stays a bar, not a wall
  const chart = svg("svg", { viewBox: `0 0 ${width} 100`, preserveAspectRatio: "none", role: "img",
    "aria-label": t("histogram"), class: "bars" }, svg("line", { x1: 0, y1: 100, x2: width, y2: 100 }), ...bars);
  $("histogram-bars").replaceChildren(chart);
  const range = buckets.length > 1 ? `${when(buckets[0])} – ${when(buckets[buckets.length - 1])}` : when(buckets[0]);
  $("histogram-caption").textContent = `${t("histogram")}: ${range} · ${t("max")} ${number(max)} ${t("reports_unit")}/${t(`per_${unit}`)}`;
}

function hitItem(hit) {
  const meta = [localTime(hit.occurred_at), areaName(hit), hit.category_label, label("severity", hit.severity)];
  if (hit.kind !== "incident") meta.push(hit.kind_label);
  const open = () => showDetail(hit.report_id);
  return el("li", { class: "result", "data-report": hit.report_id, "data-regency": hit.regency && hit.regency.code,
    "data-severity": hit.severity, onclick: open },
    el("button", { type: "button", class: "result-meta", onclick: (event) => { event.stopPropagation(); open(); } }, meta.filter(Boolean).join(" · ")),
    el("p", { class: "result-text" }, hit.highlight ? highlighted(hit.highlight) : hit.text || ""));
}

function renderResults() {
  const page = search.page;
  $("total").textContent = `${number(page.total)} ${t("found")}` +
    (search.hits.length < page.total ? ` (${number(search.hits.length)} ${t("shown")})` : "");
  const list = $("results");
  list.replaceChildren(...(search.hits.length ? search.hits.map(hitItem) : [el("li", { class: "empty" }, t("no_reports"))]));
  $("more").hidden = !search.cursor || search.hits.length >= page.total;
  const exportLink = $("export");
  const exportParams = new URLSearchParams(search.params);
  exportParams.set("format", "csv");
  exportLink.href = `/v1/search/export?${exportParams}`;
  exportLink.dataset.count = String(page.total);
  exportLink.textContent = `${t("export")} (${number(page.total)} ${t("rows")})`;
}

// --- loading ---------------------------------------------------------------------------------

function searchUrl(cursor) {
  const params = new URLSearchParams(search.params);
  params.set("size", String(PAGE_SIZE));
  params.set("lang", state.lang);
  params.set("facets", cursor ? "false" : "true");
  if (cursor) params.set("cursor", cursor);
  return `/v1/search?${params}`;
}

async function run() {
  search.params = formParams(form());
  rememberParams(search.params);
  const seq = ++search.seq;
  document.body.dataset.loading = "true";
  try {
    const page = await api(searchUrl(null));
    if (seq !== search.seq) return; // a newer search was started meanwhile
    search.page = page;
    search.hits = page.hits;
    search.cursor = page.next_cursor;
    showProblem(null);
    renderResults();
    renderFacets(page.facets || {});
    renderHistogram((page.facets && page.facets.occurred) || []);
  } catch (error) {
    if (seq === search.seq) showProblem(error);
  } finally {
    if (seq === search.seq) document.body.dataset.loading = "false";
  }
}

async function more() {
  const seq = search.seq;
  try {
    const page = await api(searchUrl(search.cursor));
    if (seq !== search.seq) return;
    search.hits = search.hits.concat(page.hits);
    search.cursor = page.next_cursor;
    renderResults();
  } catch (error) {
    showProblem(error);
  }
}

// --- detail ----------------------------------------------------------------------------------

function field(name, value) {
  return value ? [el("dt", {}, t(name)), el("dd", {}, value)] : [];
}

function otherReport(report) {
  return el("li", { "data-report": report.report_id },
    el("button", { type: "button", class: "result-meta", onclick: () => showDetail(report.report_id) },
      [localTime(report.occurred_at), areaName(report), report.category_label, label("severity", report.severity)].filter(Boolean).join(" · ")),
    el("p", { class: "result-text" }, report.text || ""));
}

function renderDetail(data) {
  const report = data.report;
  const incident = data.incident;
  $("detail").dataset.report = report.report_id;
  $("detail-title").textContent = `${report.category_label} · ${label("severity", report.severity)}`;
  const village = report.village ? report.village.name : null;
  $("detail-body").replaceChildren(
    el("p", { class: "detail-text" }, report.text || ""),
    el("dl", { class: "facts" },
      ...field("occurred", localTime(report.occurred_at, { seconds: true })),
      ...field("received", localTime(report.received_at, { seconds: true })),
      ...field("area", areaName(report)),
      ...field("village", village),
      ...field("tps", report.tps),
      ...field("kind", report.kind_label),
      ...field("phase", report.phase_label),
      ...field("source", report.source_label),
      ...field("reporter", `${report.reporter.unit || ""} (${report.reporter.role_label || ""})`),
      ...field("report_id", report.report_id),
      ...field("incident", `${incident.incident_id} · ${report.incident_state_label} · ${number(incident.report_count)} ${t("reports_unit")}`)),
    el("h3", {}, t("incident_reports")),
    incident.reports.length ? el("ol", { class: "results incident-reports" }, ...incident.reports.map(otherReport)) : el("p", {}, t("none")));
}

async function showDetail(reportId) {
  search.detailId = reportId;
  try {
    const data = await api(`/v1/reports/${encodeURIComponent(reportId)}?lang=${state.lang}`);
    if (search.detailId !== reportId) return;
    renderDetail(data);
    $("detail").hidden = false;
    for (const node of document.querySelectorAll(".result[aria-current]")) node.removeAttribute("aria-current");
    const chosen = document.querySelector(`.result[data-report="${CSS.escape(reportId)}"]`);
    if (chosen) chosen.setAttribute("aria-current", "true");
    if (window.matchMedia("(max-width: 1200px)").matches) $("detail").scrollIntoView({ block: "start" });
  } catch (error) {
    showProblem(error);
  }
}

function closeDetail() {
  search.detailId = null;
  $("detail").hidden = true;
}

// --- start -----------------------------------------------------------------------------------

async function start() {
  setUpLanguage(() => {
    fillFilters(search.province);
    run();
    if (search.detailId) showDetail(search.detailId);
  });
  form().addEventListener("submit", (event) => { event.preventDefault(); run(); });
  form().addEventListener("change", (event) => { if (event.target.id !== "q") run(); });
  form().addEventListener("reset", () => setTimeout(run, 0));
  $("more").addEventListener("click", more);
  $("detail-close").addEventListener("click", closeDetail);
  search.province = await setUpFilters(form(), fillFilters);
  if (!search.province) return;
  await run();
}

start();
