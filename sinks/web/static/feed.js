// The reports feed: the latest reports, newest first, filterable, refreshed every 10 s.
import {
  $, addTexts, api, areaName, el, fillSelect, formParams, label, labelOptions, localTime, regencyOptions,
  rememberParams, setUpFilters, setUpLanguage, severityOptions, showProblem, state, t,
} from "./pages.js";

addTexts({
  id: { title: "Laporan terbaru", updated: "Diperbarui", auto: "otomatis tiap 10 detik" },
  en: { title: "Latest reports", updated: "Updated", auto: "refreshes every 10 s" },
});

const REFRESH_MS = 10000;
const FEED_SIZE = 50;
const feed = { province: null, seen: null, seq: 0 };
const form = () => $("feed-form");

function fillFilters(province) {
  fillSelect($("regency"), regencyOptions(province), t("all"));
  fillSelect($("category"), labelOptions("category"), t("all"));
  fillSelect($("severity_min"), severityOptions(), "—");
}

function line(hit, fresh) {
  const what = hit.kind === "incident" ? hit.category_label : `${hit.kind_label} · ${hit.category_label}`;
  return el("li", { class: fresh ? "feed-line new" : "feed-line", "data-report": hit.report_id,
    "data-regency": hit.regency && hit.regency.code, "data-severity": hit.severity },
    el("time", { datetime: hit.occurred_at }, localTime(hit.occurred_at)),
    el("span", { class: "where" }, areaName(hit)),
    el("span", { class: "what" }, what),
    el("span", { class: "sev", "data-severity": hit.severity, title: label("severity", hit.severity) }, label("severity", hit.severity)),
    el("span", { class: "text" }, hit.text || ""));
}

async function load() {
  const params = formParams(form());
  rememberParams(params);
  const query = new URLSearchParams(params);
  // /v1/feed (viewer role): newest first, the feed's filters only.
  for (const [key, value] of [["size", String(FEED_SIZE)], ["lang", state.lang]]) query.set(key, value);
  const seq = ++feed.seq;
  try {
    const page = await api(`/v1/feed?${query}`);
    if (seq !== feed.seq) return; // the filter changed meanwhile
    const before = feed.seen;
    feed.seen = new Set(page.hits.map((hit) => hit.report_id));
    $("feed").replaceChildren(...(page.hits.length
      ? page.hits.map((hit) => line(hit, before !== null && !before.has(hit.report_id)))
      : [el("li", { class: "empty" }, t("no_reports"))]));
    $("updated").textContent = `${t("updated")} ${localTime(new Date().toISOString(), { date: false, seconds: true })} · ${t("auto")}`;
    showProblem(null);
  } catch (error) {
    if (seq === feed.seq) showProblem(error);
  }
}

async function start() {
  setUpLanguage(() => { fillFilters(feed.province); load(); });
  form().addEventListener("change", () => { feed.seen = null; load(); });
  feed.province = await setUpFilters(form(), fillFilters);
  if (!feed.province) return;
  await load();
  setInterval(load, REFRESH_MS);
}

start();
