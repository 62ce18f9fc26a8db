"""The daily report against the real Elasticsearch: a known day of reports, status history and
alerts is indexed with the indexer's own documents, then read through the web API and the CLI.

The day is 27 November 2024 in WITA (UTC+8): 00:00 WITA is 16:00 UTC the day before, so a
report at 23:30 WITA (15:30 UTC) counts and one at 00:30 WITA on the 28th (16:30 UTC on the
27th, the same UTC date) does not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from schemas.registry import AreaRegistry
from schemas.report import FieldReport
from schemas.status import AreaStatus
from sinks.documents import BulkAction, alert_action, report_action, status_actions
from sinks.es.names import IndexNames
from sinks.es.setup import setup
from sinks.web.app import create_app
from sitrep.cli import main
from sitrep.settings import Settings
from tests.sinks.conftest import with_anonymous_role
from tests.sinks.report.conftest import balikpapan_alert

pytestmark = pytest.mark.integration

WITA = ZoneInfo("Asia/Makassar")
INDEXED_AT = datetime(2024, 11, 28, 1, 0, tzinfo=UTC)


def wita(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 11, day, hour, minute, tzinfo=WITA)


def reports(make_report: Callable[..., FieldReport]) -> list[FieldReport]:
    return [
        make_report(report_id="r-first", occurred_at=wita(27, 0, 10), severity=2),
        make_report(report_id="r-2330", occurred_at=wita(27, 23, 30), severity=5),
        make_report(
            report_id="r-smd-1",
            occurred_at=wita(27, 10),
            district="64.72",
            subdistrict="64.72.01",
            category="hoax",
            severity=4,
            text="Beredar hoaks surat suara tercoblos di grup WhatsApp warga.",
        ),
        make_report(
            report_id="r-smd-2",
            occurred_at=wita(27, 11),
            district="64.72",
            kind="check_in",
            category="other",
            severity=1,
            text="Situasi aman terkendali.",
        ),
        # outside the day or the province: never counted
        make_report(report_id="r-0030-next", occurred_at=wita(28, 0, 30), severity=5),
        make_report(report_id="r-2350-before", occurred_at=wita(26, 23, 50), severity=5),
        make_report(
            report_id="r-banjarmasin",
            occurred_at=wita(27, 12),
            district="63.71",
            reporter={"unit": "Polresta Banjarmasin", "role": "polres"},
        ),
    ]


def status(level: str, previous: str | None, changed: datetime, updated: datetime) -> AreaStatus:
    return AreaStatus.model_validate(
        {
            "area_code": "64.71",
            "area_level": "regency",
            "area_name": "Kota Balikpapan",
            "level": level,
            **({"previous_level": previous} if previous else {}),
            "score": 9.5,
            "level_changed_at": changed.isoformat(),
            "change_reason": f"Skor naik; tingkat {level}",
            "updated_at": updated.isoformat(),
        }
    )


HISTORY = [
    status("AMAN", None, wita(27, 1), wita(27, 1)),  # the first status: not a change
    status("SIAGA", "AMAN", wita(27, 10), wita(27, 10, 0)),
    status("SIAGA", "AMAN", wita(27, 10), wita(27, 10, 5)),  # same change, later update
    status("AWAS", "SIAGA", wita(28, 0, 30), wita(28, 0, 30)),  # the next day
]


ALERTS = [
    balikpapan_alert(
        "bentrok-beruntun",
        wita(27, 10, 5),
        acknowledged_by="AKBP Suryadi",
        acknowledged_at=wita(27, 10, 20),
        resolved_at=wita(27, 13),
    ),
    balikpapan_alert("hoaks-menyebar", wita(28, 0, 30)),  # the next day
]


@pytest.fixture
def day_indexed(
    isolated: Settings,
    es: Any,
    registry: AreaRegistry,
    make_report: Callable[..., FieldReport],
) -> Iterator[Settings]:
    """The known day in this test's own indices (prefix from ``isolated``)."""
    setup(es, isolated.indexer)
    names = IndexNames(isolated.indexer.index_prefix)
    actions: list[BulkAction] = [
        *(report_action(r, names, registry, INDEXED_AT) for r in reports(make_report)),
        *(status_actions(s, names, INDEXED_AT)[1] for s in HISTORY),
        *(alert_action(a, names, INDEXED_AT) for a in ALERTS),
    ]
    for action in actions:
        es.index(index=action.index, id=action.doc_id, document=action.source)
    es.indices.refresh(index=f"{names.prefix}-*")
    yield isolated


def check_known_day(report: dict[str, Any]) -> None:
    assert report["date"] == "2024-11-27"
    assert (report["total_reports"], report["total_incidents"], report["total_check_ins"]) == (
        4,
        3,
        1,
    )
    regencies = {r["code"]: r for r in report["regencies"]}
    assert (regencies["64.71"]["reports"], regencies["64.71"]["incidents"]) == (2, 2)
    assert (regencies["64.72"]["incidents"], regencies["64.72"]["check_ins"]) == (1, 1)
    assert "63.71" not in regencies
    assert {(c["category"], c["incidents"]) for c in report["categories"]} == {
        ("clash", 2),
        ("hoax", 1),
    }
    assert [(c["from_level"], c["to_level"], c["changed_at"]) for c in report["level_changes"]] == [
        ("AMAN", "SIAGA", "2024-11-27T10:00:00+08:00")
    ]
    [handled] = report["alerts"]
    assert (handled["rule_id"], handled["state"], handled["acknowledged_by"]) == (
        "bentrok-beruntun",
        "resolved",
        "AKBP Suryadi",
    )
    assert handled["acknowledged_at"] == "2024-11-27T10:20:00+08:00"
    # severity first, then time: the 23:30 report is in, the 00:30 one of the next day is not
    assert [r["report_id"] for r in report["notable_reports"]] == ["r-2330", "r-smd-1", "r-first"]


def test_the_api_reports_the_known_day_in_json_and_markdown(day_indexed: Settings, es: Any) -> None:
    analysts = with_anonymous_role(day_indexed, "analyst")  # this test is about the report
    with TestClient(create_app(analysts, es=es)) as client:
        answer = client.get("/v1/sitrep/daily", params={"date": "2024-11-27"})
        assert answer.status_code == 200, answer.text
        check_known_day(answer.json())

        markdown = client.get("/v1/sitrep/daily?date=2024-11-27&format=md")
        assert markdown.headers["content-type"].startswith("text/markdown")
        assert "Jumlah laporan: 4 (3 kejadian, 1 laporan situasi aman)" in markdown.text
        assert "| 64.71 | Kota Balikpapan | 2 | 2 | 0 |" in markdown.text
        english = client.get(
            "/v1/sitrep/daily?date=2024-11-27&format=md", headers={"Accept-Language": "en"}
        )
        assert "Reports: 4 (3 incidents, 1 check-ins)" in english.text

        pdf = client.get("/v1/sitrep/daily?date=2024-11-27&format=pdf")
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-")

        next_day = client.get("/v1/sitrep/daily", params={"date": "2024-11-28"}).json()
        assert next_day["total_reports"] == 1  # r-0030-next
        assert [a["rule_id"] for a in next_day["alerts"]] == ["hoaks-menyebar"]

        today = client.get("/v1/sitrep/daily").json()
        assert today["date"] == datetime.now(WITA).date().isoformat()

        bad = client.get("/v1/sitrep/daily", params={"date": "2024-13-01", "lang": "en"})
        assert bad.status_code == 422
        assert bad.json()["error"] == {
            "code": "report_date_invalid",
            "message": "Invalid date '2024-13-01'; use the form YYYY-MM-DD, e.g. 2024-11-27.",
        }
        bad_format = client.get("/v1/sitrep/daily", params={"format": "docx"})
        assert bad_format.status_code == 422
        assert "docx" in bad_format.json()["error"]["message"]


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "SITREP_ELASTICSEARCH__URL": settings.elasticsearch.url,
        "SITREP_INDEXER__INDEX_PREFIX": settings.indexer.index_prefix,
        "SITREP_LOG__LEVEL": "WARNING",
    }


def test_the_cli_writes_the_known_day_as_json_markdown_and_pdf(
    day_indexed: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    env = cli_env(day_indexed)
    out = tmp_path / "day.json"
    args = ["report", "daily", "--date", "2024-11-27"]
    result = runner.invoke(main, [*args, "--format", "json", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    check_known_day(json.loads(out.read_text()))

    result = runner.invoke(main, [*args, "--lang", "en"], env=env)
    assert result.exit_code == 0, result.output
    assert "| 64.72 | Kota Samarinda | 2 | 1 | 1 |" in result.stdout

    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, [*args, "--format", "pdf"], env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sitrep-2024-11-27.pdf").read_bytes().startswith(b"%PDF-")
