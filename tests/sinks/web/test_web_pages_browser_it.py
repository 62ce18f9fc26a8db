"""The analyst pages (search, reports feed, daily report) in headless Chromium against the
real stack: a known day of 30 reports goes through Kafka and `sitrep index` into
Elasticsearch, then the pages are driven as an analyst would.

* search finds a report by another Indonesian word form (bentrok -> bentrokan), with the
  right facet counts; a facet click narrows the results; the detail shows the report and its
  incident; highlights never let a report's text become markup;
* the CSV export of a filtered search downloads exactly the expected rows;
* the feed shows the newest report first, filters by regency and keeps the filter across its
  10 s refresh while a new report arrives;
* the daily page shows the day's count per regency, links the server's PDF and prints
  without the controls;
* a 401 from the API shows a login link back to the page; a 390 px phone has no horizontal
  scroll; no request leaves the service.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from schemas.registry import AreaRegistry
from schemas.report import FieldReport
from sitrep.settings import Settings
from tests.sinks.conftest import build_report, report_record, running_indexer, send_all
from tests.sinks.web.conftest import WebServer

pytestmark = pytest.mark.integration

WITA = ZoneInfo("Asia/Makassar")
DAY = "2024-11-20"
DAY_START = datetime(2024, 11, 20, 0, 0, tzinfo=WITA)
BALIKPAPAN, SAMARINDA, BONTANG = "64.71", "64.72", "64.74"
KNOWN_TEXT = (
    "Bentrokan antar pendukung paslon di depan kantor KPU Balikpapan, dua orang luka ringan."
)
FOLLOW_UP_TEXT = "Massa kedua kubu sudah dipisahkan aparat di depan kantor KPU Balikpapan."
MARKUP_TEXT = 'Spanduk "<b>Paslon 2</b>" dirobek & terjadi bentrokan kecil di Balikpapan Barat.'
Row = tuple[str, str, str, int, str]  # regency, kecamatan, category, severity, text


def rows(
    count: int, regency: str, kecamatan: str, category: str, severity: int, text: str
) -> list[Row]:
    """``count`` reports alike in one kecamatan (``{n}`` numbers their texts)."""
    return [
        (regency, f"{regency}.{kecamatan}", category, severity, text.format(n=n))
        for n in range(1, count + 1)
    ]


# The day's reports in the order they happened; category "other" are check-ins.
DAY_REPORTS: list[Row] = [
    *rows(1, BALIKPAPAN, "01", "clash", 4, KNOWN_TEXT),
    *rows(1, BALIKPAPAN, "01", "clash", 3, FOLLOW_UP_TEXT),
    *rows(1, BALIKPAPAN, "02", "clash", 3, MARKUP_TEXT),
    *rows(
        1, BALIKPAPAN, "03", "clash", 5, "Terjadi bentrokan di posko pemenangan Balikpapan Selatan."
    ),
    *rows(1, BALIKPAPAN, "04", "clash", 2, "Bentrokan mulut antar relawan di pasar Klandasan."),
    *rows(3, BALIKPAPAN, "02", "money_politics", 3, "Warga melaporkan pembagian amplop di RT {n}."),
    *rows(4, BALIKPAPAN, "05", "other", 1, "Situasi aman dan kondusif, pos {n}."),
    *rows(1, SAMARINDA, "01", "clash", 4, "Bentrokan antar simpatisan di simpang Palaran."),
    *rows(1, SAMARINDA, "02", "clash", 3, "Sempat terjadi bentrokan kecil saat konvoi kampanye."),
    *rows(1, SAMARINDA, "03", "crowd", 2, "Massa nyaris bentrok di depan kantor kecamatan."),
    *rows(4, SAMARINDA, "04", "hoax", 2, "Beredar hoaks tentang surat suara tercoblos, versi {n}."),
    *rows(3, SAMARINDA, "05", "other", 1, "Situasi aman terkendali, regu {n}."),
    *rows(1, BONTANG, "01", "riot", 4, "Kerusuhan kecil di luar gedung DPRD, sudah diredam."),
    *rows(1, BONTANG, "02", "riot", 3, "Lempar batu ke arah rumah tim sukses."),
    *rows(2, BONTANG, "01", "vandalism", 2, "Perusakan alat peraga kampanye nomor {n}."),
    *rows(4, BONTANG, "02", "other", 1, "Situasi aman di Bontang, pos {n}."),
]
BENTROK = [text for *_, text in DAY_REPORTS if "bentrok" in text.lower()]


@pytest.fixture(autouse=True)
def anonymous_analyst(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests browse without a login: `sitrep serve` (started after this, with the
    environment of the test) lets anonymous callers search and export."""
    monkeypatch.setenv("SITREP_WEB__ANONYMOUS_ROLE", "analyst")


@dataclass
class Scenario:
    server: WebServer
    settings: Settings
    reports: list[FieldReport]

    def by_text(self, text: str) -> FieldReport:
        return next(report for report in self.reports if report.text == text)

    def newest(self) -> FieldReport:
        return max(self.reports, key=lambda report: report.occurred_at)


def day_reports(registry: AreaRegistry) -> list[FieldReport]:
    reports = []
    for n, (regency, kecamatan, category, severity, text) in enumerate(DAY_REPORTS):
        overrides: dict[str, Any] = {}
        if text in (KNOWN_TEXT, FOLLOW_UP_TEXT):  # one incident, two reports
            overrides = {"incident_id": "inc-bpp-kpu"}
        reports.append(
            build_report(
                registry,
                report_id=f"pg-{n:02d}",
                occurred_at=DAY_START + timedelta(hours=1, minutes=40 * n),
                district=regency,
                subdistrict=kecamatan,
                kind="check_in" if category == "other" else "incident",
                category=category,
                severity=severity,
                text=text,
                **overrides,
            )
        )
    return reports


def produce(settings: Settings, reports: list[FieldReport]) -> None:
    send_all(settings, settings.kafka.topics.reports, [report_record(r) for r in reports])


def searchable(server: WebServer, count: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    answer = "nothing"
    while time.monotonic() < deadline:
        response = httpx.get(f"{server.url}/v1/search", params={"size": 1, "facets": "false"})
        answer = f"HTTP {response.status_code}: {response.text[:300]}"
        if response.status_code == 200 and response.json()["total"] == count:
            return
        time.sleep(0.3)
    raise AssertionError(f"{count} reports not searchable after {timeout_s}s ({answer})")


@pytest.fixture
def scenario(
    web_settings: Settings, web_server: WebServer, registry: AreaRegistry
) -> Iterator[Scenario]:
    """The day's reports on Kafka and searchable; the indexer keeps running for late ones."""
    reports = day_reports(registry)
    with running_indexer(web_settings):
        produce(web_settings, reports)
        searchable(web_server, len(reports))
        yield Scenario(web_server, web_settings, reports)


class Browser:
    """A page in its own context; remembers script errors and requests that left the service."""

    def __init__(self, browser: Any, base_url: str, width: int, height: int) -> None:
        self.context = browser.new_context(
            viewport={"width": width, "height": height},
            locale="id-ID",
            accept_downloads=True,
            is_mobile=width < 600,
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "request",
            lambda request: (
                None
                if request.url.startswith((base_url, "data:"))
                else self.outside.append(request.url)
            ),
        )

    def close(self) -> None:
        self.context.close()
        assert not self.errors, f"script errors on the page: {self.errors}"
        assert not self.outside, f"requests outside the service: {self.outside}"


@pytest.fixture
def desk(browser: Any, scenario: Scenario) -> Iterator[Any]:
    """An analyst's desk screen, 1920x1080."""
    opened = Browser(browser, scenario.server.url, 1920, 1080)
    yield opened.page
    opened.close()


def texts(page: Any, selector: str) -> list[str]:
    return [str(text) for text in page.locator(selector).all_inner_texts()]


def attributes(page: Any, selector: str, name: str) -> list[str]:
    return [str(node.get_attribute(name)) for node in page.locator(selector).all()]


def facet_count(page: Any, group: str, key: str) -> str:
    return str(page.inner_text(f'.facet[data-facet="{group}"][data-key="{key}"] .count'))


def test_search_finds_word_forms_with_facets_detail_and_safe_highlights(
    scenario: Scenario, desk: Any, artifacts: Path
) -> None:
    page = desk
    page.goto(f"{scenario.server.url}/search")
    page.wait_for_selector(f'#regency option[value="{SAMARINDA}"]', state="attached")
    page.fill("#q", "bentrok")
    page.press("#q", "Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('#results .result').length === n", arg=len(BENTROK)
    )
    assert page.inner_text("#total").startswith(f"{len(BENTROK)} laporan ditemukan")
    assert "q=bentrok" in page.url  # the search is in the address bar, shareable

    known = scenario.by_text(KNOWN_TEXT)
    item = f'.result[data-report="{known.report_id}"]'
    assert page.inner_text(f"{item} mark") == "Bentrokan"  # bentrok finds bentrokan
    assert "Kota Balikpapan / Balikpapan Timur" in page.inner_text(f"{item} .result-meta")
    assert "Bentrokan · 4 Tinggi" in page.inner_text(f"{item} .result-meta")

    # A report's text stays text: the API's escaped markup is not turned into elements.
    markup = f'.result[data-report="{scenario.by_text(MARKUP_TEXT).report_id}"]'
    assert page.locator(f"{markup} b").count() == 0
    assert '"<b>Paslon 2</b>" dirobek & terjadi' in page.inner_text(f"{markup} .result-text")

    by_regency = Counter(r.district for r in scenario.reports if r.text in BENTROK)
    by_category = Counter(str(r.category) for r in scenario.reports if r.text in BENTROK)
    for regency, count in by_regency.items():
        assert facet_count(page, "regency", regency) == str(count)
    for category, count in by_category.items():
        assert facet_count(page, "category", category) == str(count)
    bars = [int(value) for value in attributes(page, "#histogram rect", "data-count")]
    assert sum(bars) == len(BENTROK)
    assert "20 Nov 2024" in page.inner_text("#histogram figcaption")
    page.select_option("#interval", "hour")  # 01.00 to 10.20: ten hourly bars
    page.wait_for_function("() => document.querySelectorAll('#histogram rect').length === 10")
    assert sum(int(v) for v in attributes(page, "#histogram rect", "data-count")) == len(BENTROK)
    assert "laporan/jam" in page.inner_text("#histogram figcaption")

    page.click(item)
    page.wait_for_selector(f'#detail[data-report="{known.report_id}"]:not([hidden])')
    detail = page.inner_text("#detail")
    assert KNOWN_TEXT in detail and known.report_id in detail and "inc-bpp-kpu" in detail
    assert FOLLOW_UP_TEXT in page.inner_text("#detail .incident-reports")
    page.screenshot(path=str(artifacts / "search.png"), full_page=True)

    page.click(f'.facet[data-facet="regency"][data-key="{SAMARINDA}"]')
    page.wait_for_function(
        "n => document.querySelectorAll('#results .result').length === n",
        arg=by_regency[SAMARINDA],
    )
    assert set(attributes(page, "#results .result", "data-regency")) == {SAMARINDA}
    assert page.input_value("#regency") == SAMARINDA
    assert (
        page.get_attribute(f'.facet[data-facet="regency"][data-key="{SAMARINDA}"]', "aria-pressed")
        == "true"
    )

    page.click("#lang")
    page.wait_for_function("() => document.querySelector('#total').textContent.includes('found')")
    assert page.inner_text("h1") == "Report search"
    assert "Clash" in " ".join(texts(page, "#results .result-meta"))


def test_csv_export_of_a_filtered_search_has_the_expected_rows(
    scenario: Scenario, desk: Any, tmp_path: Path
) -> None:
    page = desk
    expected = [
        r for r in scenario.reports if r.district == SAMARINDA and str(r.category) == "hoax"
    ]
    page.goto(f"{scenario.server.url}/search?regency={SAMARINDA}&category=hoax")
    page.wait_for_function(
        "n => document.querySelector('#export').dataset.count === String(n)", arg=len(expected)
    )
    assert page.input_value("#regency") == SAMARINDA  # filters restored from the address
    assert page.input_value("#category") == "hoax"
    assert f"({len(expected)} baris)" in page.inner_text("#export")
    with page.expect_download() as download_info:
        page.click("#export")
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.suffix == ".csv"
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert len(rows) == len(expected)
    assert {row["report_id"] for row in rows} == {r.report_id for r in expected}


def test_feed_newest_first_filters_and_keeps_the_filter_across_refreshes(
    scenario: Scenario, desk: Any, registry: AreaRegistry, artifacts: Path
) -> None:
    page = desk
    page.goto(f"{scenario.server.url}/feed")
    newest = scenario.newest()
    page.wait_for_selector(f'#feed .feed-line[data-report="{newest.report_id}"]')
    assert attributes(page, "#feed .feed-line", "data-report")[0] == newest.report_id
    first = page.inner_text("#feed .feed-line >> nth=0")
    assert "Kota Bontang" in first and "20 Nov 2024" in first and newest.text in first

    page.select_option("#regency", SAMARINDA)
    samarinda = [r for r in scenario.reports if r.district == SAMARINDA]
    page.wait_for_function(
        "n => document.querySelectorAll('#feed .feed-line').length === n", arg=len(samarinda)
    )
    assert set(attributes(page, "#feed .feed-line", "data-regency")) == {SAMARINDA}
    assert f"regency={SAMARINDA}" in page.url

    # A new report arrives: the next refresh (every 10 s) shows it on top, filter kept.
    late = build_report(
        registry,
        report_id="pg-late",
        occurred_at=DAY_START + timedelta(hours=23, minutes=30),
        district=SAMARINDA,
        subdistrict="64.72.01",
        category="intimidation",
        severity=4,
        text="Intimidasi terhadap saksi di TPS 012 Palaran.",
    )
    produce(scenario.settings, [late])
    page.wait_for_selector('#feed .feed-line[data-report="pg-late"]', timeout=25_000)
    assert attributes(page, "#feed .feed-line", "data-report")[0] == "pg-late"
    assert set(attributes(page, "#feed .feed-line", "data-regency")) == {SAMARINDA}
    assert page.input_value("#regency") == SAMARINDA
    assert "Intimidasi" in page.inner_text("#feed .feed-line >> nth=0")
    page.screenshot(path=str(artifacts / "feed.png"), full_page=True)


def test_daily_page_counts_links_the_pdf_and_prints_clean(
    scenario: Scenario, desk: Any, artifacts: Path
) -> None:
    page = desk
    page.goto(f"{scenario.server.url}/daily?date={DAY}")
    balikpapan = f'#regencies tr[data-regency="{BALIKPAPAN}"]'
    page.wait_for_selector(balikpapan)
    expected = sum(1 for r in scenario.reports if r.district == BALIKPAPAN)
    assert page.inner_text(f"{balikpapan} td.reports") == str(expected)
    assert page.inner_text("#regencies tfoot td.reports") == str(len(scenario.reports))
    assert page.input_value("#date") == DAY
    assert "Rabu, 20 November 2024" in page.inner_text("#report-title")
    clashes = sum(1 for r in scenario.reports if str(r.category) == "clash")
    assert page.inner_text('#categories tr[data-category="clash"] td') == str(clashes)
    top = max(scenario.reports, key=lambda r: (r.severity, -r.occurred_at.timestamp()))
    assert attributes(page, "#notable tbody tr", "data-report")[0] == top.report_id
    page.screenshot(path=str(artifacts / "daily.png"), full_page=True)

    pdf_link = str(page.get_attribute("#pdf-link", "href"))
    assert f"date={DAY}" in pdf_link and "format=pdf" in pdf_link
    pdf = httpx.get(f"{scenario.server.url}{pdf_link}", timeout=30)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    page.emulate_media(media="print")
    assert page.is_hidden(".site-nav") and page.is_hidden("#daily-form")
    assert page.is_visible(balikpapan)


def test_login_link_when_the_api_wants_a_login(web_server: WebServer, browser: Any) -> None:
    opened = Browser(browser, web_server.url, 1280, 800)
    try:
        page = opened.page
        page.route(
            re.compile(r".*/v1/board$"),
            lambda route: route.fulfill(status=401, json={"error": {"code": "unauthorized"}}),
        )
        page.goto(f"{web_server.url}/feed?category=hoax")
        page.wait_for_selector("#problem:not([hidden]) a#login-link")
        assert "login" in page.inner_text("#problem").lower()
        href = page.get_attribute("#login-link", "href")
        assert href == "/login?next=%2Ffeed%3Fcategory%3Dhoax"
    finally:
        opened.close()


def test_pages_have_no_horizontal_scroll_on_a_phone(scenario: Scenario, browser: Any) -> None:
    phone = Browser(browser, scenario.server.url, 390, 844)
    try:
        page = phone.page
        known = scenario.by_text(KNOWN_TEXT)
        page.goto(f"{scenario.server.url}/search?q=bentrok")
        page.wait_for_selector(f'.result[data-report="{known.report_id}"]')
        page.click(f'.result[data-report="{known.report_id}"]')
        page.wait_for_selector("#detail:not([hidden]) .incident-reports")
        widths = {"search": page.evaluate("document.documentElement.scrollWidth")}
        page.goto(f"{scenario.server.url}/feed")
        page.wait_for_selector("#feed .feed-line")
        widths["feed"] = page.evaluate("document.documentElement.scrollWidth")
        page.goto(f"{scenario.server.url}/daily?date={DAY}")
        page.wait_for_selector("#regencies tbody tr")
        widths["daily"] = page.evaluate("document.documentElement.scrollWidth")
        assert all(width <= 390 for width in widths.values()), f"page widths at 390 px: {widths}"
    finally:
        phone.close()
