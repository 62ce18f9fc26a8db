// The daily situation report of one local day (/v1/sitrep/daily?format=json) as readable
// sections; printable (see @media print in pages.css) and downloadable as PDF from the server.
import { $, addTexts, api, el, label, loadLabels, localTime, number, setUpLanguage, showProblem, state, t } from "./pages.js";

addTexts({
  id: {
    title: "Laporan situasi harian", date: "Tanggal", show: "Tampilkan", pdf: "Unduh PDF", print: "Cetak",
    summary: "Ringkasan", per_regency: "Laporan per kabupaten/kota", per_category: "Kejadian per kategori",
    level_changes: "Perubahan status", alerts: "Peringatan dan penanganannya", notable: "Laporan menonjol",
    generated: "Dibuat", day_range: "pukul 00.00–24.00", total: "Jumlah", reports: "Laporan", incidents: "Kejadian",
    check_ins: "Laporan aman", alerts_count: "Peringatan", open: "belum selesai",
    time: "Waktu", area: "Wilayah", from_level: "Dari", to_level: "Menjadi", reason: "Alasan", fired: "Aktif sejak",
    rule: "Aturan", tier: "Tingkat", state: "Status", acknowledged: "Ditangani oleh", resolved: "Selesai",
    report: "Laporan", text: "Isi", none: "Tidak ada",
  },
  en: {
    title: "Daily situation report", date: "Date", show: "Show", pdf: "Download PDF", print: "Print",
    summary: "Summary", per_regency: "Reports per regency/city", per_category: "Incidents per category",
    level_changes: "Level changes", alerts: "Alerts and their handling", notable: "Notable reports",
    generated: "Generated", day_range: "00:00–24:00", total: "Total", reports: "Reports", incidents: "Incidents",
    check_ins: "Check-ins", alerts_count: "Alerts", open: "not resolved",
    time: "Time", area: "Area", from_level: "From", to_level: "To", reason: "Reason", fired: "Fired",
    rule: "Rule", tier: "Tier", state: "State", acknowledged: "Acknowledged by", resolved: "Resolved",
    report: "Report", text: "Text", none: "None",
  },
});

const daily = { report: null, seq: 0 };
const ZONE_NAMES = { "Asia/Makassar": "WITA", "Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Jayapura": "WIT" };

/** YYYY-MM-DD of a moment in the operation's zone. */
const dayOf = (iso) =>
  new Intl.DateTimeFormat("en-CA", { timeZone: state.timezone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(iso));

/** The time of day alone within the report's day, with the date otherwise (as in the PDF). */
function moment(iso) {
  if (!iso) return "—";
  return localTime(iso, { date: dayOf(iso) !== daily.report.date });
}

const num = (value) => el("td", { class: "num" }, number(value));

function table(id, headers, rows, footer = null) {
  const head = el("thead", {}, el("tr", {}, ...headers.map(([key, numeric]) => el("th", { scope: "col", class: numeric ? "num" : null }, t(key)))));
  const body = el("tbody", {}, ...(rows.length ? rows : [el("tr", { class: "empty" }, el("td", { colspan: headers.length }, t("none")))]));
  $(id).replaceChildren(head, body, ...(footer ? [el("tfoot", {}, footer)] : []));
}

function render() {
  const report = daily.report;
  state.timezone = report.timezone || state.timezone;
  const day = new Intl.DateTimeFormat(state.lang === "id" ? "id-ID" : "en-GB",
    { timeZone: "UTC", weekday: "long", day: "numeric", month: "long", year: "numeric" }).format(new Date(`${report.date}T00:00:00Z`));
  const zone = ZONE_NAMES[report.timezone] || report.timezone;
  $("report-title").textContent = `${report.province_name} — ${day} (${t("day_range")} ${zone})`;
  $("report-meta").textContent = `${t("generated")} ${localTime(report.generated_at)}`;
  const open = report.alerts.filter((alert) => alert.state !== "resolved").length;
  $("summary").replaceChildren(
    el("li", { id: "summary-reports" }, `${t("reports")}: ${number(report.total_reports)} ` +
      `(${t("incidents")} ${number(report.total_incidents)}, ${t("check_ins")} ${number(report.total_check_ins)})`),
    el("li", {}, `${t("level_changes")}: ${number(report.level_changes.length)}`),
    el("li", {}, `${t("alerts_count")}: ${number(report.alerts.length)} (${t("open")} ${number(open)})`));
  table("regencies", [["area"], ["reports", true], ["incidents", true], ["check_ins", true]],
    report.regencies.map((r) => el("tr", { "data-regency": r.code, class: r.reports ? null : "quiet" },
      el("th", { scope: "row" }, r.name), el("td", { class: "num reports" }, number(r.reports)), num(r.incidents), num(r.check_ins))),
    el("tr", {}, el("th", { scope: "row" }, t("total")), el("td", { class: "num reports" }, number(report.total_reports)),
      num(report.total_incidents), num(report.total_check_ins)));
  table("categories", [["category"], ["incidents", true]],
    report.categories.map((c) => el("tr", { "data-category": c.category }, el("th", { scope: "row" }, label("category", c.category)), num(c.incidents))));
  table("level-changes", [["time"], ["area"], ["from_level"], ["to_level"], ["reason"]],
    report.level_changes.map((c) => el("tr", { "data-area": c.area_code },
      el("td", {}, moment(c.changed_at)), el("td", {}, c.area_name), el("td", { "data-level": c.from_level }, label("level", c.from_level)),
      el("td", { "data-level": c.to_level }, label("level", c.to_level)), el("td", {}, c.reason))));
  table("alerts", [["fired"], ["area"], ["rule"], ["tier"], ["state"], ["acknowledged"], ["resolved"]],
    report.alerts.map((a) => el("tr", { "data-alert": a.alert_id, "data-tier": a.tier },
      el("td", {}, moment(a.fired_at)), el("td", {}, a.area_name),
      el("td", {}, el("strong", {}, a.rule_name), el("div", { class: "meta" }, state.lang === "en" ? a.message_en : a.message_id)),
      el("td", {}, label("alert_tier", a.tier)), el("td", {}, label("alert_state", a.state)),
      el("td", {}, a.acknowledged_by ? `${a.acknowledged_by}, ${moment(a.acknowledged_at)}` : "—"),
      el("td", {}, moment(a.resolved_at)))));
  table("notable", [["time"], ["area"], ["category"], ["severity"], ["report"], ["text"]],
    report.notable_reports.map((n) => el("tr", { "data-report": n.report_id },
      el("td", {}, moment(n.occurred_at)), el("td", {}, [n.regency_name, n.kecamatan_name].filter(Boolean).join(" / ")),
      el("td", {}, label("category", n.category)), el("td", {}, label("severity", n.severity)),
      el("td", { class: "id" }, n.report_id), el("td", {}, n.excerpt))));
  $("report").hidden = false;
  document.title = `sitrep — ${t("title")} ${report.date}`;
}

function pdfLink(date) {
  const params = new URLSearchParams({ format: "pdf", lang: state.lang });
  if (date) params.set("date", date);
  $("pdf-link").href = `/v1/sitrep/daily?${params}`;
}

async function load(date) {
  const params = new URLSearchParams({ format: "json" });
  if (date) params.set("date", date);
  pdfLink(date);
  const seq = ++daily.seq;
  try {
    const report = await api(`/v1/sitrep/daily?${params}`);
    if (seq !== daily.seq) return;
    daily.report = report;
    $("date").value = report.date; // without a date: today in the operation's zone, from the server
    pdfLink(report.date);
    showProblem(null);
    render();
  } catch (error) {
    if (seq === daily.seq) showProblem(error);
  }
}

async function start() {
  setUpLanguage(() => { pdfLink($("date").value); if (daily.report) render(); });
  $("daily-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const date = $("date").value;
    history.replaceState(null, "", date ? `${location.pathname}?date=${date}` : location.pathname);
    load(date);
  });
  $("print").addEventListener("click", () => window.print());
  try {
    await loadLabels();
  } catch (error) {
    showProblem(error);
    return;
  }
  await load(new URLSearchParams(location.search).get("date"));
}

start();
