"""The situation board in headless Chromium against the real stack: what the control room sees.

* the board shows each regency's level (text and icon, not colour alone);
* a level change produced on Kafka appears on the open page without reload within 2 s;
* after the server restarts the page says its data is stale, then reconnects by itself;
* a commander acknowledges an alert on the page: the worker records it, the panel shows it
  and the sitrep-alerts index has it;
* the phone layout (390 px) has no horizontal scroll.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.alert import AlertState
from schemas.status import AreaStatus
from sinks.es.names import IndexNames
from sinks.web.operators import OperatorRole
from sinks.web.users import add_user, new_user
from sitrep import clients
from sitrep.settings import Settings
from tests.sinks.conftest import build_report, running_indexer
from tests.sinks.notify.conftest import RULES, T0, Worker, produce
from tests.sinks.web.conftest import WebServer

pytestmark = pytest.mark.integration


def status(area: str, name: str, level: str, updated: datetime, score: float = 0.0) -> AreaStatus:
    return AreaStatus.model_validate(
        {
            "area_code": area,
            "area_level": "regency" if area.count(".") == 1 else "district",
            "area_name": name,
            "level": level,
            "score": score,
            "open_incidents": 2 if score else 0,
            "last_report_at": (updated - timedelta(minutes=7)).isoformat(),
            "level_changed_at": updated.isoformat(),
            "change_reason": "uji",
            "updated_at": updated.isoformat(),
        }
    )


def publish(settings: Settings, *statuses: AreaStatus) -> None:
    producer = clients.kafka_producer(settings)
    try:
        for record in statuses:
            producer.send(
                settings.kafka.topics.status,
                key=record.area_code.encode(),
                value=record.model_dump_json().encode(),
            )
        producer.flush(30)
    finally:
        producer.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="id-ID")
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def tile_level(page: Any, area: str) -> str | None:
    value = page.get_attribute(f'.tile[data-area="{area}"]', "data-level")
    return str(value) if value is not None else None


def test_board_shows_levels_and_a_change_on_kafka_within_two_seconds(
    web_settings: Settings, web_server: WebServer, page: Any, artifacts: Path
) -> None:
    now = datetime.now(UTC)
    publish(
        web_settings,
        status("64.71", "Kota Balikpapan", "AWAS", now, score=41.5),
        status("64.72", "Kota Samarinda", "WASPADA", now, score=6.0),
        status("64.74", "Kota Bontang", "TIDAK ADA KABAR", now),
    )
    page.goto(web_server.url)
    page.wait_for_selector('.tile[data-area="64.71"][data-level="AWAS"]', timeout=10_000)
    page.wait_for_selector('.tile[data-area="64.74"][data-level="TIDAK ADA KABAR"]')
    assert tile_level(page, "64.72") == "WASPADA"
    balikpapan = page.inner_text('.tile[data-area="64.71"]')
    assert "Kota Balikpapan" in balikpapan and "⚠ AWAS" in balikpapan and "41,5" in balikpapan
    assert "? TIDAK ADA KABAR" in page.inner_text('.tile[data-area="64.74"]')
    assert tile_level(page, "64.01") is None  # no status yet: shown as such, not as AMAN
    assert "BELUM ADA DATA" in page.inner_text('.tile[data-area="64.01"]')
    assert "Kalimantan Timur" in page.inner_text("h1")
    page.wait_for_selector('#connection[data-state="live"]', timeout=10_000)
    page.screenshot(path=str(artifacts / "board.png"), full_page=True)

    publish(web_settings, status("64.72", "Kota Samarinda", "SIAGA", now + timedelta(seconds=1)))
    sent = time.monotonic()
    page.wait_for_selector('.tile[data-area="64.72"][data-level="SIAGA"]', timeout=2_000)
    shown_after = time.monotonic() - sent
    assert shown_after < 2.0
    # An older record (a replay) never overwrites a newer one on the page.
    publish(web_settings, status("64.72", "Kota Samarinda", "AMAN", now - timedelta(hours=1)))
    time.sleep(1.0)
    assert tile_level(page, "64.72") == "SIAGA"

    page.click("#lang")
    assert "Current situation" in page.inner_text("h1")
    assert "AWAS (warning)" in page.inner_text('.tile[data-area="64.71"]')


def test_page_shows_stale_data_and_reconnects_after_a_server_restart(
    web_settings: Settings, web_server: WebServer, page: Any
) -> None:
    now = datetime.now(UTC)
    publish(web_settings, status("64.71", "Kota Balikpapan", "SIAGA", now, score=12.0))
    page.goto(web_server.url)
    page.wait_for_selector('#connection[data-state="live"]', timeout=10_000)
    web_server.stop()
    page.wait_for_selector('#connection[data-state="stale"]', timeout=10_000)
    assert "DATA BASI" in page.inner_text("#connection")
    assert tile_level(page, "64.71") == "SIAGA"  # the last known picture stays on screen
    # A change made while the server was down arrives with the snapshot after it returns.
    publish(web_settings, status("64.71", "Kota Balikpapan", "AWAS", now + timedelta(seconds=5)))
    web_server.start()
    page.wait_for_selector('#connection[data-state="live"]', timeout=15_000)
    page.wait_for_selector('.tile[data-area="64.71"][data-level="AWAS"]', timeout=5_000)


def test_phone_layout_has_no_horizontal_scroll(
    web_settings: Settings, web_server: WebServer, browser: Any, artifacts: Path
) -> None:
    publish(web_settings, status("64.71", "Kota Balikpapan", "AWAS", datetime.now(UTC), 30.0))
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        phone = context.new_page()
        phone.goto(web_server.url)
        phone.wait_for_selector('.tile[data-area="64.71"][data-level="AWAS"]', timeout=10_000)
        phone.click('.tile[data-area="64.71"]')  # the kecamatan board opens below
        phone.wait_for_selector("#detail:not([hidden]) .tile")
        scroll_width = phone.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= 390, f"page is {scroll_width}px wide on a 390px phone"
        phone.screenshot(path=str(artifacts / "board-phone.png"), full_page=True)
    finally:
        context.close()


def test_commander_acknowledges_an_alert_on_the_page(
    web_settings: Settings, web_server: WebServer, page: Any, artifacts: Path, tmp_path: Path
) -> None:
    add_user(
        web_settings.web.users_path(web_settings.home),
        new_user("AKBP Suryadi", OperatorRole.COMMANDER, "kata-sandi-uji", datetime.now(UTC)),
    )
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "uji.yaml").write_text(RULES, encoding="utf-8")
    app_id = f"{web_settings.indexer.index_prefix}-worker"
    worker = Worker(web_settings, tmp_path, rules_dir, app_id)
    worker.start()
    try:
        with running_indexer(web_settings):
            clashes = [
                build_report(
                    _registry(),
                    report_id=f"web-clash-{n}",
                    district="64.71",
                    subdistrict="64.71.01",
                    category="clash",
                    kind="incident",
                    severity=3,
                    occurred_at=T0 + timedelta(minutes=5 * n),
                )
                for n in range(2)
            ]
            produce(web_settings, *clashes)
            # The commander logs in on the login page and comes back to the board.
            page.goto(f"{web_server.url}/login?next=/")
            page.fill("#user", "AKBP Suryadi")
            page.fill("#password", "kata-sandi-uji")
            page.click("#submit")
            page.wait_for_url(f"{web_server.url}/")
            page.wait_for_selector("#user:has-text('AKBP Suryadi')")
            firing = '.alert[data-state="firing"]'
            page.wait_for_selector(firing, timeout=60_000)
            alert_id = page.get_attribute(firing, "data-alert")
            assert "Bentrok beruntun (uji)" in page.inner_text(firing)
            page.screenshot(path=str(artifacts / "alerts.png"), full_page=True)

            page.click(f"{firing} button.ack")
            page.wait_for_selector(
                f'.alert[data-alert="{alert_id}"][data-state="acknowledged"]', timeout=30_000
            )
            assert "AKBP Suryadi" in page.inner_text(f'.alert[data-alert="{alert_id}"]')
            # The worker's statuses reach the history index: Balikpapan's tile draws its trend.
            page.wait_for_selector('.tile[data-area="64.71"] svg.sparkline', timeout=45_000)
            assert page.inner_text("#phase").startswith("Tahap: ")
            assert indexed_state(web_settings, str(alert_id), timeout_s=30) == "acknowledged"
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n--- worker ---\n{worker.tail()}") from None
    finally:
        worker.stop()


def indexed_state(settings: Settings, alert_id: str, timeout_s: float) -> str | None:
    """The alert's state in the sitrep-alerts index once it is acknowledged (or the last seen)."""
    es = clients.elasticsearch(settings)
    index = IndexNames(settings.indexer.index_prefix).alerts
    seen: str | None = None
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = es.options(ignore_status=404).get(index=index, id=alert_id)
            if found.get("found"):
                seen = found["_source"]["state"]
                if seen == AlertState.ACKNOWLEDGED.value:
                    return seen
            time.sleep(0.5)
        return seen
    finally:
        es.close()


def _registry() -> Any:
    from schemas.registry import default_registry

    return default_registry()
