"""``sitrep bench board``: status on Kafka -> visible on the open control-room page.

Runs `sitrep serve` on topics of its own and opens the board in Debian's chromium (Playwright).
Level changes are produced one at a time; the page notes when each tile changed (a
MutationObserver, in the page's own clock, which is this machine's clock), so the latency is
measured from the moment the record was handed to Kafka to the moment the tile showed it.
Ceiling, in the same run: the same records produced and consumed with kafka-python alone.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from bench.harness import Figure, format_table, percentiles, write_result
from schemas.status import AreaStatus
from sitrep.chromium import CHROMIUM, CHROMIUM_ARGS
from sitrep.commands.common import Context, fail, pass_context
from sitrep.ports import free_port
from sitrep.settings import TopicNames

TARGET_MS = 1000.0
AREAS = ("64.71", "64.72", "64.01", "64.74")
LEVELS = ("WASPADA", "SIAGA", "AWAS", "AMAN")
# Records every tile level change with the page's clock (ms since the epoch).
OBSERVER = """
window.__changes = [];
new MutationObserver((mutations) => {
  for (const m of mutations) {
    if (m.type === "attributes" && m.attributeName === "data-level") {
      window.__changes.push([m.target.dataset.area, m.target.dataset.level, Date.now()]);
    }
    for (const node of m.addedNodes || []) {
      if (node.dataset && node.dataset.area) {
        window.__changes.push([node.dataset.area, node.dataset.level || null, Date.now()]);
      }
    }
  }
}).observe(document.getElementById("tiles"), { subtree: true, childList: true, attributes: true });
"""


def change(area: str, level: str, at: datetime) -> AreaStatus:
    return AreaStatus.model_validate(
        {
            "area_code": area,
            "area_level": "regency",
            "area_name": area,
            "level": level,
            "score": float(LEVELS.index(level)),
            "level_changed_at": at.isoformat(),
            "change_reason": "bench",
            "updated_at": at.isoformat(),
        }
    )


@click.command()
@click.option("--changes", default=60, show_default=True, help="Level changes to send.")
@click.option(
    "--interval", default=0.5, show_default=True, help="Seconds between changes (one at a time)."
)
@click.option("--keep", is_flag=True, help="Keep the benchmark's topics.")
@pass_context
def command(ctx: Context, changes: int, interval: float, keep: bool) -> None:
    """Level change on Kafka -> shown on the open board page (target: within a second)."""
    from sitrep import clients
    from sitrep.topics import TopicSpec, ensure_topics

    settings = ctx.settings
    logging.getLogger("kafka").setLevel(logging.ERROR)
    if changes <= 0 or interval <= 0:
        fail("--changes and --interval must be positive")
    if not Path(CHROMIUM).exists():
        fail(f"{CHROMIUM} is needed (Debian's chromium: `make browser` installs it)")
    run = f"bench-{uuid.uuid4().hex[:8]}"
    names = {role: f"{run}.{role}" for role in TopicNames.model_fields}
    admin = clients.kafka_admin(settings)
    ensure_topics(
        admin,
        [
            TopicSpec(names["status"], settings.kafka.partitions, 1, {}),
            TopicSpec(names["alerts"], settings.kafka.partitions, 1, {}),
        ],
    )
    admin.close()
    work_dir = settings.home / "bench" / run
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        **{f"SITREP_KAFKA__TOPICS__{role.upper()}": name for role, name in names.items()},
        "SITREP_WEB__PORT": str(port),
        "SITREP_LOG__FORMAT": "json",
    }
    log_file = work_dir / "web.log"
    with log_file.open("wb") as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "sitrep"), "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_caught_up(server, port, log_file)
        sent = _drive_page(settings, names["status"], port, changes, interval)
        ceiling_ms = _raw_roundtrip(settings, names["status"], changes)
    finally:
        server.terminate()
        server.wait(30)
        if not keep:
            admin = clients.kafka_admin(settings)
            admin.delete_topics([n for n in names.values() if n in admin.list_topics()])
            admin.close()
    page_ms = [latency for latency in sent if latency is not None]
    figures = [
        Figure(
            "kafka produce -> consume (ceiling)",
            len(ceiling_ms),
            sum(ceiling_ms) / 1000,
            latency_ms=percentiles(ceiling_ms),
        ),
        Figure(
            "kafka -> board page (tile shown)",
            len(page_ms),
            changes * interval,
            latency_ms=percentiles(page_ms),
            notes=f"{changes - len(page_ms)} changes not seen",
        ),
    ]
    click.echo(format_table(figures))
    click.echo(
        f"  {len(page_ms)}/{changes} changes seen on the page; target p99 < {TARGET_MS:.0f} ms"
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = write_result(
        settings.home / "bench" / f"board-{stamp}.json",
        "board",
        figures,
        {"changes": changes, "interval": interval, "target_ms": TARGET_MS, "run": run},
    )
    click.echo(f"result: {result}")


def _wait_caught_up(server: subprocess.Popen[bytes], port: int, log_file: Path) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None or time.monotonic() > deadline:
            fail(f"sitrep serve did not start; see {log_file}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/board", timeout=2).json().get("caught_up"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)


def _drive_page(
    settings: Any, topic: str, port: int, changes: int, interval: float
) -> list[float | None]:
    """Latency per change in ms (None: the page never showed it)."""
    from playwright.sync_api import sync_playwright

    from sitrep import clients

    producer = clients.kafka_producer(settings, linger_ms=0)
    base = datetime.now(UTC)
    plan = [
        (AREAS[n % len(AREAS)], LEVELS[(n // len(AREAS)) % len(LEVELS)]) for n in range(changes)
    ]
    sent_ms: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector('#connection[data-state="live"]', timeout=30_000)
            page.evaluate(OBSERVER)
            with click.progressbar(plan, label="level changes") as bar:
                for n, (area, level) in enumerate(bar):
                    record = change(area, level, base + timedelta(seconds=n + 1))
                    producer.send(
                        topic, key=area.encode(), value=record.model_dump_json().encode()
                    ).get(timeout=10)
                    sent_ms.append(time.time() * 1000)
                    time.sleep(interval)
            time.sleep(2)
            seen: list[list[Any]] = page.evaluate("window.__changes")
        finally:
            browser.close()
            producer.close()
    return _match(plan, sent_ms, seen)


def _match(
    plan: list[tuple[str, str]], sent_ms: list[float], seen: list[list[Any]]
) -> list[float | None]:
    """For each change, the first time after it was sent that its tile showed its level."""
    latencies: list[float | None] = []
    for (area, level), at in zip(plan, sent_ms, strict=True):
        shown = [t for a, lvl, t in seen if a == area and lvl == level and t >= at - 5]
        latencies.append(max(0.0, min(shown) - at) if shown else None)
    return latencies


def _raw_roundtrip(settings: Any, topic: str, count: int) -> list[float]:
    """kafka-python alone: produce a record, consume it, one at a time (ms each)."""
    from kafka import TopicPartition

    from sitrep import clients

    producer = clients.kafka_producer(settings, linger_ms=0)
    consumer = clients.kafka_consumer(settings, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_end(*partitions)
        for tp in partitions:
            consumer.position(tp)
        samples: list[float] = []
        for n in range(count):
            payload = json.dumps({"n": n}).encode()
            started = time.perf_counter()
            producer.send(topic, key=b"ceiling", value=payload).get(timeout=10)
            got = False
            while not got:
                for records in consumer.poll(timeout_ms=1000).values():
                    got = got or any(r.value == payload for r in records)
            samples.append((time.perf_counter() - started) * 1000)
        return samples
    finally:
        producer.close()
        consumer.close()
