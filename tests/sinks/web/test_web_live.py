"""The live board's state: newest record wins, other provinces and replays are ignored,
resolved alerts are forgotten after a day, and the SSE framing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from schemas.alert import Alert, AlertState, AlertTier, make_alert_id
from schemas.registry import default_registry
from schemas.status import AreaStatus
from sinks.web.board import area_layout, sse
from sinks.web.live import LiveBoard
from sinks.web.trend import trend_from_response, trend_query

NOW = datetime(2024, 11, 27, 2, 0, tzinfo=UTC)


def status(area: str, level: str, updated: datetime) -> AreaStatus:
    return AreaStatus.model_validate(
        {
            "area_code": area,
            "area_level": ("province", "regency", "district")[area.count(".")],
            "area_name": "uji",
            "level": level,
            "score": 1.0,
            "level_changed_at": updated.isoformat(),
            "change_reason": "uji",
            "updated_at": updated.isoformat(),
        }
    )


def alert(state: AlertState, updated: datetime, area: str = "64.71") -> Alert:
    extra = {"resolved_at": updated} if state is AlertState.RESOLVED else {}
    return Alert(
        alert_id=make_alert_id("bentrok", area, NOW.isoformat()),
        rule_id="bentrok",
        rule_name="Bentrok",
        rule_type="frequency",
        state=state,
        tier=AlertTier.WARNING,
        area_code=area,
        group_key=area,
        first_fired_at=NOW,
        updated_at=updated,
        message_id="bentrok",
        message_en="clash",
        **extra,
    )


def test_a_newer_status_replaces_the_shown_one_and_an_older_one_is_ignored() -> None:
    board = LiveBoard("64")
    first = board.apply_status(status("64.71", "SIAGA", NOW))
    assert first is not None and first.kind == "status" and first.data["level"] == "SIAGA"
    assert board.apply_status(status("64.71", "AMAN", NOW - timedelta(minutes=1))) is None
    assert board.apply_status(status("64.71", "SIAGA", NOW)) is None  # the same record again
    newer = board.apply_status(status("64.71", "AWAS", NOW + timedelta(seconds=1)))
    assert newer is not None and newer.data["level"] == "AWAS"
    assert board.statuses["64.71"].level == "AWAS"


def test_areas_of_other_provinces_are_not_on_the_board() -> None:
    board = LiveBoard("64")
    assert board.apply_status(status("63.71", "AWAS", NOW)) is None  # Kalimantan Selatan
    assert board.apply_status(status("64", "WASPADA", NOW)) is not None  # the province itself
    assert board.apply_alert(alert(AlertState.FIRING, NOW, area="65.01")) is None
    assert set(board.statuses) == {"64"}


def test_alert_changes_are_announced_and_resolved_ones_forgotten_after_a_day() -> None:
    board = LiveBoard("64", keep_resolved=timedelta(hours=24))
    assert board.apply_alert(alert(AlertState.FIRING, NOW)) is not None
    assert board.apply_alert(alert(AlertState.FIRING, NOW)) is None  # duplicate
    resolved = board.apply_alert(alert(AlertState.RESOLVED, NOW + timedelta(minutes=30)))
    assert resolved is not None and resolved.data["state"] == "resolved"
    assert "routes" not in resolved.data
    board.prune(NOW + timedelta(hours=20))
    assert len(board.alerts) == 1
    board.prune(NOW + timedelta(hours=25))
    assert board.alerts == {}


def test_snapshot_lists_areas_by_code_and_alerts_newest_first() -> None:
    board = LiveBoard("64")
    board.apply_status(status("64.72", "AMAN", NOW))
    board.apply_status(status("64.71", "AMAN", NOW))
    board.apply_alert(alert(AlertState.FIRING, NOW, area="64.71"))
    board.apply_alert(alert(AlertState.FIRING, NOW + timedelta(minutes=1), area="64.72"))
    snapshot = board.snapshot()
    assert [s["area_code"] for s in snapshot["statuses"]] == ["64.71", "64.72"]
    assert [a["area_code"] for a in snapshot["alerts"]] == ["64.72", "64.71"]


def test_layout_has_every_regency_of_the_province_with_its_kecamatan() -> None:
    layout = area_layout(default_registry(), "64")
    assert layout["name"] == "Kalimantan Timur"
    codes = [regency["code"] for regency in layout["regencies"]]
    assert len(codes) == 10 and "64.71" in codes
    balikpapan = next(r for r in layout["regencies"] if r["code"] == "64.71")
    assert any(d["name"] == "Balikpapan Selatan" for d in balikpapan["districts"])


def test_server_sent_event_is_one_json_line() -> None:
    frame = sse("status", {"level": "AWAS", "text": "baris\nbaru"})
    lines = frame.split("\n")
    assert lines[0] == "event: status" and lines[1].startswith("data: ")
    assert frame.endswith("\n\n") and len(lines) == 4
    assert json.loads(lines[1][len("data: ") :])["text"] == "baris\nbaru"


def test_trend_asks_for_hourly_maxima_of_the_regencies_up_to_the_newest_status() -> None:
    body = trend_query(["64.71", "64.72"], NOW, hours=24)
    filters = body["query"]["bool"]["filter"]
    assert filters[0] == {"terms": {"area_code": ["64.71", "64.72"]}}
    window = filters[1]["range"]["updated_at"]
    assert window["lte"] == NOW.isoformat()
    assert window["gt"] == (NOW - timedelta(hours=24)).isoformat()
    hours = body["aggs"]["areas"]["aggs"]["hours"]["date_histogram"]
    assert hours["fixed_interval"] == "1h" and hours["min_doc_count"] == 0


def test_trend_reads_each_regencys_hourly_scores_oldest_first() -> None:
    response = {
        "aggregations": {
            "areas": {
                "buckets": [
                    {
                        "key": "64.71",
                        "hours": {
                            "buckets": [
                                {"key": 1, "score": {"value": 2.5}},
                                {"key": 2, "score": {"value": None}},
                                {"key": 3, "score": {"value": 7.0}},
                            ]
                        },
                    }
                ]
            }
        }
    }
    assert trend_from_response(response) == {"64.71": [2.5, None, 7.0]}
    assert trend_from_response({}) == {}
