"""The daily situation report from Elasticsearch response dicts (no services): counts, level
changes, alert handling, notable reports, and the Markdown, JSON and PDF renderings."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from schemas.alert import Alert, AlertState, AlertTier
from schemas.registry import AreaRegistry
from sinks.documents import alert_document
from sinks.i18n import ALERT_STATE_LABELS, ALERT_TIER_LABELS, format_count, format_date
from sinks.report.daily import (
    DailyReport,
    alerts_request,
    build_daily_report,
    day_bounds,
    excerpt,
    level_changes_request,
    notable_reports,
    parse_day,
    reports_request,
)
from sinks.report.pdf import latin1, render_pdf
from sinks.report.render import render_json, render_markdown
from sitrep.cli import main
from tests.sinks.report.conftest import balikpapan_alert

WITA = ZoneInfo("Asia/Makassar")
DAY = date(2024, 11, 27)
GENERATED = datetime(2024, 11, 28, 0, 5, tzinfo=UTC)


def bucket(key: str, count: int, **sub: Any) -> dict[str, Any]:
    return {"key": key, "doc_count": count, **sub}


def kinds(incidents: int, check_ins: int) -> dict[str, Any]:
    buckets = [bucket("incident", incidents), bucket("check_in", check_ins)]
    return {"buckets": [b for b in buckets if b["doc_count"]]}


def report_source(report_id: str, occurred: str, severity: int, **extra: Any) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "occurred_at": occurred,
        "district": "64.71",
        "regency_name": "Kota Balikpapan",
        "subdistrict": "64.71.01",
        "subdistrict_name": "Balikpapan Timur",
        "kind": "incident",
        "category": "clash",
        "severity": severity,
        "text": "Bentrokan antar pendukung di depan kantor KPU.",
        **extra,
    }


NOTABLE = [
    report_source("r-late", "2024-11-27T15:30:00Z", 4),  # 23:30 WITA
    report_source("r-early", "2024-11-27T01:00:00+08:00", 4),
    report_source("r-worst", "2024-11-27T10:00:00+08:00", 5, district="64.72", subdistrict=None),
    report_source("r-mild", "2024-11-27T08:00:00+08:00", 2, category="hoax"),
]

REPORTS_RESPONSE: dict[str, Any] = {
    "hits": {"total": {"value": 1234, "relation": "eq"}, "hits": []},
    "aggregations": {
        "regency": {
            "buckets": [
                bucket("64.71", 1100, kind=kinds(900, 200)),
                bucket("64.72", 134, kind=kinds(100, 34)),
            ]
        },
        "incidents": {
            "doc_count": 1000,
            "category": {
                "buckets": [bucket("clash", 600), bucket("hoax", 400)],
            },
            "notable": {"hits": {"hits": [{"_source": s} for s in NOTABLE]}},
        },
    },
}


def history(area: str, level: str, previous: str, changed: str, updated: str) -> dict[str, Any]:
    return {
        "area_code": area,
        "area_level": "regency" if area.count(".") == 1 else "district",
        "area_name": {"64.71": "Kota Balikpapan", "64.71.01": "Balikpapan Timur"}[area],
        "level": level,
        "previous_level": previous,
        "level_changed_at": changed,
        "change_reason": f"naik ke {level}: 3 laporan bentrokan",
        "updated_at": updated,
    }


def change_bucket(*sources: dict[str, Any]) -> dict[str, Any]:
    hits = [{"_source": s} for s in sources]
    return {"key": [sources[0]["area_code"], 0], "doc_count": 3, "first": {"hits": {"hits": hits}}}


CHANGES_RESPONSE: dict[str, Any] = {
    "aggregations": {
        "changes": {
            "buckets": [
                change_bucket(
                    history(
                        "64.71",
                        "AWAS",
                        "SIAGA",
                        "2024-11-27T14:10:00+08:00",
                        "2024-11-27T06:10:05Z",
                    )
                ),
                change_bucket(
                    history(
                        "64.71.01",
                        "SIAGA",
                        "WASPADA",
                        "2024-11-27T09:00:00+08:00",
                        "2024-11-27T01:00:02Z",
                    )
                ),
                # the same change seen twice (e.g. a bucket per stored generation) counts once
                change_bucket(
                    history(
                        "64.71.01",
                        "SIAGA",
                        "WASPADA",
                        "2024-11-27T01:00:00Z",
                        "2024-11-27T01:00:09Z",
                    )
                ),
            ]
        }
    }
}


def alert_hit(record: Alert) -> dict[str, Any]:
    return {"_id": record.alert_id, "_source": alert_document(record, GENERATED)}


FIRED = datetime(2024, 11, 27, 2, 0, tzinfo=UTC)  # 10.00 WITA
ALERTS_RESPONSE: dict[str, Any] = {
    "hits": {
        "hits": [
            alert_hit(
                balikpapan_alert(
                    "bentrok-beruntun",
                    FIRED,
                    acknowledged_by="AKBP Suryadi",
                    acknowledged_at=FIRED + timedelta(minutes=15),
                    resolved_at=FIRED + timedelta(hours=16),  # 28 Nov 02.00 WITA
                )
            ),
            alert_hit(balikpapan_alert("hoaks-menyebar", FIRED - timedelta(hours=3))),
            {"_id": "broken", "_source": {"alert_id": "broken"}},  # unreadable: left out
        ]
    }
}


def report_with_notable(registry: AreaRegistry, sources: list[dict[str, Any]]) -> DailyReport:
    """The fixture day's counts with these notable reports, no level changes nor alerts."""
    response = json.loads(json.dumps(REPORTS_RESPONSE))
    notable = response["aggregations"]["incidents"]["notable"]
    notable["hits"]["hits"] = [{"_source": source} for source in sources]
    return build_daily_report(
        DAY,
        WITA,
        "64",
        registry,
        reports_response=response,
        changes_response={},
        alerts_response={},
        generated_at=GENERATED,
        notable=len(sources),
    )


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b", pdf))


@pytest.fixture
def report(registry: AreaRegistry) -> DailyReport:
    return build_daily_report(
        DAY,
        WITA,
        "64",
        registry,
        reports_response=REPORTS_RESPONSE,
        changes_response=CHANGES_RESPONSE,
        alerts_response=ALERTS_RESPONSE,
        generated_at=GENERATED,
        notable=3,
    )


# --- the day --------------------------------------------------------------------------------


def test_the_day_runs_from_midnight_to_midnight_local_time() -> None:
    start, end = day_bounds(DAY, WITA)
    assert start.astimezone(UTC) == datetime(2024, 11, 26, 16, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2024, 11, 27, 16, 0, tzinfo=UTC)
    window = reports_request(start, end, "64", 10)["query"]["bool"]["filter"][0]["range"]
    assert window["occurred_at"] == {
        "gte": "2024-11-26T16:00:00+00:00",
        "lt": "2024-11-27T16:00:00+00:00",
    }


def test_requests_filter_the_province_and_the_day() -> None:
    start, end = day_bounds(DAY, WITA)
    changes = level_changes_request(start, end, "64")["query"]["bool"]["filter"]
    assert {"term": {"province": "64"}} in changes
    assert {"exists": {"field": "previous_level"}} in changes  # a first status is no change
    alerts = alerts_request(start, end, "64")["query"]["bool"]
    assert alerts["minimum_should_match"] == 1
    assert [next(iter(s["range"])) for s in alerts["should"]] == [
        "first_fired_at",
        "acknowledged_at",
        "resolved_at",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2024-11-27", DAY), (None, date(2024, 11, 28)), ("  ", date(2024, 11, 28))],
)
def test_parse_day_defaults_to_today_in_local_time(value: str | None, expected: date) -> None:
    # 23:00 UTC on the 27th is already the 28th in WITA
    assert parse_day(value, WITA, datetime(2024, 11, 27, 23, 0, tzinfo=UTC)) == expected


@pytest.mark.parametrize("value", ["27-11-2024", "2024-02-30", "20241127", "kemarin"])
def test_parse_day_rejects_anything_but_a_valid_iso_date(value: str) -> None:
    with pytest.raises(ValueError):
        parse_day(value, WITA, GENERATED)


# --- counts ---------------------------------------------------------------------------------


def test_every_regency_of_the_province_is_counted_also_without_reports(
    report: DailyReport,
) -> None:
    by_code = {r.code: r for r in report.regencies}
    assert len(by_code) == 10
    assert list(by_code) == sorted(by_code)
    assert by_code["64.71"].model_dump() == {
        "code": "64.71",
        "name": "Kota Balikpapan",
        "reports": 1100,
        "incidents": 900,
        "check_ins": 200,
    }
    assert by_code["64.72"].name == "Kota Samarinda"
    assert (by_code["64.01"].name, by_code["64.01"].reports) == ("Kabupaten Paser", 0)
    assert (report.total_reports, report.total_incidents, report.total_check_ins) == (
        1234,
        1000,
        234,
    )


def test_incidents_per_category_most_first(report: DailyReport) -> None:
    assert [(c.category, c.incidents) for c in report.categories] == [
        ("clash", 600),
        ("hoax", 400),
    ]


def test_an_empty_day_has_zero_counts_and_no_sections(registry: AreaRegistry) -> None:
    empty = build_daily_report(
        DAY,
        WITA,
        "64",
        registry,
        reports_response={"hits": {"total": {"value": 0}, "hits": []}},
        changes_response={},
        alerts_response={"hits": {"hits": []}},
        generated_at=GENERATED,
    )
    assert empty.total_reports == 0
    assert all(r.reports == 0 for r in empty.regencies)
    assert (empty.categories, empty.level_changes, empty.alerts, empty.notable_reports) == (
        [],
        [],
        [],
        [],
    )
    assert render_markdown(empty).count("Tidak ada.") == 4


# --- level changes, alerts, notable reports -------------------------------------------------


def test_level_changes_once_each_oldest_first_in_local_time(report: DailyReport) -> None:
    changes = [
        (c.area_code, c.from_level.value, c.to_level.value, c.changed_at.strftime("%H:%M"))
        for c in report.level_changes
    ]
    assert changes == [
        ("64.71.01", "WASPADA", "SIAGA", "09:00"),
        ("64.71", "SIAGA", "AWAS", "14:10"),
    ]
    assert report.level_changes[1].reason == "naik ke AWAS: 3 laporan bentrokan"
    assert report.level_changes[1].changed_at.utcoffset() == timedelta(hours=8)


def test_alerts_show_who_acknowledged_and_when_resolved(report: DailyReport) -> None:
    first, second = report.alerts  # the unreadable document is left out
    assert (first.rule_id, first.state, first.acknowledged_by) == (
        "hoaks-menyebar",
        AlertState.FIRING,
        None,
    )
    assert second.acknowledged_by == "AKBP Suryadi"
    assert second.acknowledged_at == datetime(2024, 11, 27, 10, 15, tzinfo=WITA)
    assert second.resolved_at == datetime(2024, 11, 28, 2, 0, tzinfo=WITA)
    assert report.alerts_open == 1


def test_notable_reports_by_severity_then_time_cut_to_the_limit(report: DailyReport) -> None:
    assert [r.report_id for r in report.notable_reports] == ["r-worst", "r-early", "r-late"]
    late = report.notable_reports[2]
    assert late.occurred_at == datetime(2024, 11, 27, 23, 30, tzinfo=WITA)
    assert (late.regency_name, late.kecamatan_name) == ("Kota Balikpapan", "Balikpapan Timur")


def test_notable_reports_ignore_the_order_they_arrive_in() -> None:
    shuffled = notable_reports(reversed(NOTABLE), WITA, limit=10)
    assert [r.report_id for r in shuffled] == ["r-worst", "r-early", "r-late", "r-mild"]


def test_excerpt_keeps_short_text_and_cuts_long_text_at_a_word() -> None:
    assert excerpt("  dua\n baris  ") == "dua baris"
    cut = excerpt("kata " * 100, max_chars=23)
    assert cut == "kata kata kata kata…"
    assert len(cut) <= 23


# --- renderings -----------------------------------------------------------------------------


def test_markdown_in_indonesian_with_indonesian_numbers_and_dates(report: DailyReport) -> None:
    text = render_markdown(report)
    assert text.startswith("# Laporan Situasi Harian Kalimantan Timur\n")
    assert "27 November 2024, pukul 00.00–24.00 WITA" in text
    assert "Jumlah laporan: 1.234 (1.000 kejadian, 234 laporan situasi aman)" in text
    assert "| 64.71 | Kota Balikpapan | 1.100 | 900 | 200 |" in text
    assert "| 64.01 | Kabupaten Paser | 0 | 0 | 0 |" in text
    assert "|  | **Jumlah** | **1.234** | **1.000** | **234** |" in text
    assert "| Bentrokan | 600 |" in text
    assert "| 14.10 | Kota Balikpapan (64.71) | SIAGA | AWAS |" in text
    assert "AKBP Suryadi, 10.15 | 28 November 2024 02.00 |" in text
    assert "| 23.30 | Kota Balikpapan, Balikpapan Timur | Bentrokan | 4 | r-late |" in text
    titles = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert titles == [
        "Ringkasan",
        "Laporan per kabupaten/kota",
        "Kejadian per kategori",
        "Perubahan status wilayah",
        "Peringatan dan penanganannya",
        "Laporan menonjol",
    ]


def test_markdown_in_english(report: DailyReport) -> None:
    text = render_markdown(report, "en")
    assert text.startswith("# Daily Situation Report Kalimantan Timur\n")
    assert "27 November 2024, 00:00–24:00 WITA" in text
    assert "Reports: 1,234 (1,000 incidents, 234 check-ins)" in text
    assert "| Clash | 600 |" in text
    assert "SIAGA (watch) | AWAS (warning)" in text
    assert "AKBP Suryadi, 10:15" in text
    assert "## Notable reports" in text
    assert "Jumlah" not in text


def test_markdown_table_cells_cannot_break_the_table(registry: AreaRegistry) -> None:
    source = report_source("r-pipe", "2024-11-27T10:00:00+08:00", 5, text="a | b\nc")
    [row] = notable_reports([source], WITA)
    assert row.excerpt == "a | b c"
    text = render_markdown(report_with_notable(registry, [source]))
    assert "| a \\| b c |" in text


def test_json_is_the_model(report: DailyReport) -> None:
    parsed = json.loads(render_json(report))
    assert parsed["date"] == "2024-11-27"
    assert parsed["starts_at"] == "2024-11-27T00:00:00+08:00"
    assert parsed["total_reports"] == 1234
    assert DailyReport.model_validate(parsed) == report


def test_pdf_has_the_sections_and_numbers_of_the_markdown(report: DailyReport) -> None:
    data = render_pdf(report, compress=False)
    assert data.startswith(b"%PDF-")
    for text in (
        "Laporan Situasi Harian Kalimantan Timur",
        "Laporan per kabupaten/kota",
        "Kejadian per kategori",
        "Perubahan status wilayah",
        "Peringatan dan penanganannya",
        "Laporan menonjol",
        "Kota Balikpapan",
        "1.234",
        "AKBP Suryadi, 10.15",
    ):
        assert latin1(text).encode("latin-1") in data, text
    pages = page_count(data)
    assert b"(Halaman %d dari ) Tj" % pages in data  # the footer; the total is filled in later


def test_pdf_grows_pages_with_the_content_and_numbers_them(registry: AreaRegistry) -> None:
    many = [
        report_source(f"r-{i:03d}", "2024-11-27T10:00:00+08:00", 3, text="panjang " * 40)
        for i in range(100)
    ]
    big = report_with_notable(registry, many)
    data = render_pdf(big, "en", compress=False)
    pages = page_count(data)
    assert pages > 3
    assert b"(Page %d of ) Tj" % pages in data
    assert b"(Page %d of ) Tj" % (pages + 1) not in data
    assert render_pdf(big).startswith(b"%PDF-")  # compressed by default


def test_pdf_text_outside_latin1_is_written_plainly() -> None:
    assert latin1("Siaga — “awas” … ok") == 'Siaga - "awas" ... ok'
    assert latin1("日本") == "??"


def test_labels_and_formats() -> None:
    assert set(ALERT_STATE_LABELS) == set(AlertState)
    assert set(ALERT_TIER_LABELS) == set(AlertTier)
    assert format_count(1234567, "id") == "1.234.567"
    assert format_count(1234567, "en") == "1,234,567"
    assert format_date(date(2024, 5, 1), "id") == "1 Mei 2024"
    assert format_date(date(2024, 5, 1), "en") == "1 May 2024"


# --- the command line (no Elasticsearch needed) ----------------------------------------


def test_the_cli_says_clearly_when_elasticsearch_is_unreachable(tmp_path: Path) -> None:
    env = {"SITREP_ELASTICSEARCH__URL": "http://127.0.0.1:9", "SITREP_HOME": str(tmp_path)}
    result = CliRunner().invoke(main, ["report", "daily", "--date", "2024-11-27"], env=env)
    assert result.exit_code == 1
    # the client's retry warnings come first; the last word is ours, without a traceback
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: Elasticsearch at http://127.0.0.1:9 is unreachable")


def test_the_cli_rejects_a_date_it_cannot_read() -> None:
    result = CliRunner().invoke(main, ["report", "daily", "--date", "27/11/2024"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output
