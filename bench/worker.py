"""``sitrep bench worker``: reports/s through the situation engine, next to raw Kafka.

In one run, on scratch topics (``bench-<id>.*``, deleted afterwards):

1. ceiling: kafka-python produces the report bytes and a kafka-python consumer reads them back
   (concurrently); rate = reports / (first send -> last received);
2. worker: ``sitrep worker`` runs as a subprocess (live clock, RocksDB tables); the same kind
   of reports are produced with ``received_at`` = send time; a report counts as through when a
   status record of its regency covers it (``last_report_at``/``last_check_in_at`` >= its
   time). Rate = reports / (first send -> last covered); latency = the covering record's
   ``updated_at`` - ``received_at``. With ``--warmup`` the reports of the first seconds are
   sent but left out of the rate, the latency and the peak lag.

``--profile`` runs the worker under cProfile and prints where its time went.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from bench.harness import (
    Figure,
    format_table,
    history_options,
    history_size,
    history_times,
    percentiles,
    scratch_run,
    write_result,
)
from sitrep.commands.common import Context, fail, pass_context
from sitrep.ports import free_ports
from sitrep.settings import Settings, TopicNames

# The worker's alert topics, so a benchmark never writes into the real ones.
_ALERT_ROLES = ("alerts", "alert_commands", "silences", "deliveries")

CATEGORIES = ("crowd", "hoax", "intimidation", "clash", "money_politics", "crime", "vandalism")


@dataclass
class Template:
    district: str
    subdistrict: str | None
    kind: str
    category: str
    severity: int
    incident_id: str | None
    state: str


def templates(settings: Settings, count: int, seed: int = 1) -> list[Template]:
    """A realistic mix over the province: new incidents, follow-ups, check-ins."""
    from schemas.registry import default_registry

    registry = default_registry()
    rng = random.Random(seed)
    regencies = registry.regencies(settings.province_code)
    if not regencies:
        fail(f"province {settings.province_code} has no regencies in the registry")
    districts = {r.code: registry.districts(r.code) for r in regencies}
    result: list[Template] = []
    opened: list[tuple[int, str, str | None]] = []
    for index in range(count):
        regency = rng.choice(regencies).code
        kecamatan = rng.choice(districts[regency]).code if districts[regency] else None
        roll = rng.random()
        if roll < 0.1:
            result.append(Template(regency, kecamatan, "check_in", "other", 1, None, "open"))
        elif roll < 0.35 and opened:
            first, regency, kecamatan = opened[
                rng.randrange(max(0, len(opened) - 500), len(opened))
            ]
            state = rng.choice(["handling", "resolved"])
            incident = f"#{first}"
            result.append(Template(regency, kecamatan, "incident", "crowd", 2, incident, state))
        else:
            category = rng.choice(CATEGORIES)
            severity = rng.choices([1, 2, 3, 4, 5], [30, 30, 20, 15, 5])[0]
            result.append(
                Template(regency, kecamatan, "incident", category, severity, None, "open")
            )
            opened.append((index, regency, kecamatan))
    return result


def render(run: str, index: int, template: Template, now: datetime) -> bytes:
    stamp = now.isoformat()
    report: dict[str, Any] = {
        "report_id": f"{run}-{index}",
        "occurred_at": stamp,
        "received_at": stamp,
        "district": template.district,
        "kind": template.kind,
        "category": template.category,
        "severity": template.severity,
        "incident_state": template.state,
        "reporter": {"unit": "Polsek Bench", "role": "polsek"},
        "source": "app",
        "phase": "voting",
        "text": "Situasi dipantau; laporan uji beban.",
        "schema_version": 1,
    }
    if template.subdistrict:
        report["subdistrict"] = template.subdistrict
    if template.incident_id:
        report["incident_id"] = f"{run}-{template.incident_id[1:]}"
    return json.dumps(report, separators=(",", ":")).encode()


def produce(
    settings: Settings,
    topic: str,
    run: str,
    items: list[Template],
    rate: float,
    sent_at: list[float],
) -> None:
    """Send with received_at = now, paced to ``rate`` per second (0: as fast as possible)."""
    from sitrep import clients

    producer = clients.kafka_producer(settings, linger_ms=20, batch_size=256 * 1024)
    started = time.perf_counter()
    for index, template in enumerate(items):
        if rate and index % 50 == 0:
            ahead = index / rate - (time.perf_counter() - started)
            if ahead > 0:
                time.sleep(ahead)
        now = datetime.now(UTC)
        producer.send(
            topic, key=template.district.encode(), value=render(run, index, template, now)
        )
        sent_at.append(now.timestamp())
    producer.flush()
    producer.close()


@dataclass
class StatusLog:
    """Status records of regencies as they arrive: (covered-up-to, updated_at) per regency."""

    covered: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    records: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def follow(self, settings: Settings, topic: str) -> None:
        from kafka import TopicPartition

        from sitrep import clients

        consumer = clients.kafka_consumer(settings)
        tps = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        while not self.stop.is_set():
            for batch in consumer.poll(timeout_ms=200).values():
                for record in batch:
                    self.records += 1
                    status = json.loads(record.value)
                    if status["area_level"] != "regency":
                        continue
                    times = [
                        datetime.fromisoformat(status[k]).timestamp()
                        for k in ("last_report_at", "last_check_in_at")
                        if status.get(k)
                    ]
                    if times:
                        updated = datetime.fromisoformat(status["updated_at"]).timestamp()
                        self.covered.setdefault(status["area_code"], []).append(
                            (max(times), updated)
                        )
        consumer.close()

    def coverage(self, district: str, at: float) -> float | None:
        """updated_at of the first record of ``district`` covering a report sent at ``at``."""
        entries = self.covered.get(district, [])
        # Coverage only grows, so the first entry reaching ``at`` is the answer.
        index = bisect_left([c for c, _ in entries], at - 1e-6)
        return entries[index][1] if index < len(entries) else None


def shares(counts: Sequence[int]) -> list[float]:
    """Each count as a percentage of their sum (all 0 when nothing was counted)."""
    total = sum(counts)
    return [100 * count / total if total else 0.0 for count in counts]


def latency_by_second(timed: list[tuple[float, float]]) -> list[dict[str, float]]:
    """p50, p99 and max latency (ms) of the reports sent in each whole second of the run.

    ``timed``: (seconds since the first send, latency ms) per report. A stall shows as a run of
    slow seconds, which one p99 over the whole run hides.
    """
    by_second: dict[int, list[float]] = {}
    for sent, latency in timed:
        by_second.setdefault(int(sent), []).append(latency)
    return [
        {"second": second, **percentiles(values, (50, 99)), "max": max(values)}
        for second, values in sorted(by_second.items())
    ]


def ceiling(settings: Settings, topic: str, run: str, items: list[Template]) -> Figure:
    """Raw kafka-python: produce the same kind of records while a consumer reads them back."""
    from kafka import TopicPartition

    from sitrep import clients

    consumer = clients.kafka_consumer(settings)
    tps = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    received = 0
    done = threading.Event()
    last_received = [0.0]

    def consume() -> None:
        nonlocal received
        while received < len(items):
            for batch in consumer.poll(timeout_ms=200).values():
                received += len(batch)
                last_received[0] = time.perf_counter()
        done.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    started = time.perf_counter()
    produce(settings, topic, run + "c", items, 0, [])
    done.wait(300)
    consumer.close()
    seconds = last_received[0] - started
    return Figure("kafka-python produce+consume", received, seconds)


def build_history(
    settings: Settings, topic: str, run: str, group: WorkerGroup, count: int, hours: float
) -> None:
    """Send ``count`` reports spread over the ``hours`` before now, oldest first, as fast as
    the producer goes, and wait until the workers have applied them: the state an operation
    has built up (minute buckets, rule groups), which the timed reports then meet."""
    from sitrep import clients

    items = templates(settings, count, seed=2)
    times = history_times(count, hours, datetime.now(UTC) - timedelta(seconds=5))
    producer = clients.kafka_producer(settings, linger_ms=20, batch_size=256 * 1024)
    prefix = f"{run}h"  # report and incident ids of their own
    for index, (template, at) in enumerate(zip(items, times, strict=True)):
        producer.send(
            topic, key=template.district.encode(), value=render(prefix, index, template, at)
        )
    producer.flush()
    producer.close()
    deadline = time.monotonic() + max(300.0, count / 50)
    with click.progressbar(length=count, label="history") as bar:
        through = 0
        while through < count:
            if time.monotonic() > deadline:
                fail(f"the workers did not apply the history in time; see {group.logs[0]}")
            time.sleep(1)
            processed = min(count, max(through, group.processed()))
            bar.update(processed - through)
            through = processed


def health(port: int) -> dict[str, Any]:
    import httpx

    try:
        body: dict[str, Any] = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
        return body
    except (httpx.HTTPError, ValueError):
        return {}


@dataclass
class WorkerGroup:
    """``sitrep worker`` processes of one consumer group, each with its own port and state."""

    processes: list[subprocess.Popen[bytes]]
    ports: list[int]
    logs: list[Path]

    @classmethod
    def start(
        cls,
        env: dict[str, str],
        work_dir: Path,
        count: int,
        profile_path: Path | None = None,
    ) -> WorkerGroup:
        """``env`` names the topics and app id; ``profile_path``: the first runs under cProfile."""
        sitrep = str(Path(sys.executable).parent / "sitrep")
        group = cls([], free_ports(count), [])
        for number, port in enumerate(group.ports):
            command_line = [sitrep, "worker"]
            if profile_path is not None and number == 0:
                command_line = [sys.executable, "-m", "cProfile", "-o", str(profile_path)]
                command_line += [sitrep, "worker"]
            suffix = "" if count == 1 else f"-{number}"
            log_path = work_dir / f"worker{suffix}.log"
            process_env = {
                **env,
                "SITREP_WORKER__WEB_PORT": str(port),
                "SITREP_WORKER__DATA_DIR": str(work_dir / f"state{suffix}"),
            }
            with log_path.open("wb") as log:
                group.processes.append(
                    subprocess.Popen(
                        command_line, env=process_env, stdout=log, stderr=subprocess.STDOUT
                    )
                )
            group.logs.append(log_path)
        return group

    def wait_ready(self, partitions: int, timeout_s: float = 120) -> None:
        """Until every worker is up and each partition is assigned to exactly one of them."""
        deadline = time.monotonic() + timeout_s
        while not _settled([health(port) for port in self.ports], partitions):
            for process, log_path in zip(self.processes, self.logs, strict=True):
                if process.poll() is not None:
                    fail(f"worker exited; see {log_path}")
            if time.monotonic() > deadline:
                fail(f"the workers did not share the partitions; see {self.logs[0].parent}")
            time.sleep(0.3)

    def processed(self) -> int:
        """Reports processed so far, all workers together."""
        return sum(self.processed_each())

    def processed_each(self) -> list[int]:
        """Reports processed so far by each worker."""
        return [int(health(port).get("processed", 0)) for port in self.ports]

    def changelog(self) -> dict[str, int]:
        """Table writes and the changelog records and bytes sent for them, all workers."""
        totals = {"writes": 0, "records_sent": 0, "bytes_sent": 0}
        for port in self.ports:
            figures = health(port).get("changelog") or {}
            for name in totals:
                totals[name] += int(figures.get(name, 0))
        return totals

    def cpu_seconds(self) -> float:
        """CPU (user + system) the worker processes have used so far, all together."""
        from bench.procstat import read

        readings = [read(process.pid) for process in self.processes]
        return sum(reading.cpu_s for reading in readings if reading is not None)

    def rss_mib(self) -> list[float]:
        """Resident memory of each worker process now (0 for one that has exited)."""
        from bench.procstat import read

        readings = [read(process.pid) for process in self.processes]
        return [round(r.rss_mib, 1) if r is not None else 0.0 for r in readings]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


workers_option = click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 8),
    help="Worker processes sharing the partitions (one consumer group).",
)


def _settled(pages: list[dict[str, Any]], partitions: int) -> bool:
    """Every worker is ready and each partition is assigned to exactly one of them."""
    if any(page.get("status") != "ok" for page in pages):
        return False
    assigned = [p for page in pages for p in page.get("assigned_partitions", [])]
    return sorted(assigned) == list(range(partitions))


@click.command()
@click.option("--count", default=30_000, show_default=True, help="Reports to send.")
@click.option(
    "--rate",
    default=0.0,
    show_default=True,
    help="Reports per second to send (0: as fast as the producer goes). With --duration the "
    "count is rate x duration.",
)
@click.option("--duration", default=0.0, help="Seconds to send for (needs --rate).")
@click.option(
    "--warmup",
    default=0.0,
    show_default=True,
    help="Seconds sent at --rate before --duration and left out of the figures (a fresh "
    "worker is slower for its first seconds).",
)
@click.option(
    "--emit-interval-ms",
    default=None,
    type=int,
    help="Worker debounce (default: the worker's setting, 1000).",
)
@workers_option
@history_options
@click.option("--profile", is_flag=True, help="Run the worker under cProfile; print hot spots.")
@click.option("--keep", is_flag=True, help="Keep the scratch topics.")
@pass_context
def command(
    ctx: Context,
    count: int,
    rate: float,
    duration: float,
    warmup: float,
    emit_interval_ms: int | None,
    workers: int,
    history_hours: float,
    history_count: int,
    profile: bool,
    keep: bool,
) -> Path:
    """Reports/s and latency through `sitrep worker`, next to raw kafka-python."""
    from sitrep import clients
    from sitrep.topics import TopicSpec, ensure_topics

    settings = ctx.settings
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per health poll otherwise
    logging.getLogger("kafka").setLevel(logging.ERROR)  # event-loop timing chatter
    if warmup < 0:
        fail("--warmup must not be negative")
    if warmup and not (rate and duration):
        fail("--warmup needs --rate and --duration")
    if duration:
        if not rate:
            fail("--duration needs --rate")
        count = int(rate * (warmup + duration))
    history = history_size(history_hours, history_count)
    run = f"bench-{uuid.uuid4().hex[:8]}"
    partitions = settings.kafka.partitions
    names = {n: f"{run}.{n}" for n in (*TopicNames.model_fields, "ceiling")}
    admin = clients.kafka_admin(settings)
    ensure_topics(
        admin,
        [
            TopicSpec(name, partitions, settings.kafka.replication_factor, {})
            for name in names.values()
        ],
    )
    admin.close()
    with scratch_run(settings, run, keep=keep):
        work_dir = settings.home / "bench" / run
        work_dir.mkdir(parents=True, exist_ok=True)
        items = templates(settings, count)
        click.echo(
            f"run {run}: {count} reports, {partitions} partitions, {workers} worker(s)"
            + (f"; after {history} reports over {history_hours:g} h of history" if history else "")
        )

        ceiling_figure = ceiling(settings, names["ceiling"], run, items)
        click.echo(f"ceiling measured: {ceiling_figure.rate:.0f} records/s")

        env = {
            **os.environ,
            "SITREP_KAFKA__TOPICS__REPORTS": names["reports"],
            "SITREP_KAFKA__TOPICS__STATUS": names["status"],
            "SITREP_KAFKA__TOPICS__DEADLETTER": names["deadletter"],
            **{f"SITREP_KAFKA__TOPICS__{role.upper()}": names[role] for role in _ALERT_ROLES},
            "SITREP_WORKER__APP_ID": run,
            "SITREP_WORKER__HEARTBEAT_S": "3600",
            "SITREP_LOG__FORMAT": "json",
            **(
                {"SITREP_WORKER__EMIT_INTERVAL_MS": str(emit_interval_ms)}
                if emit_interval_ms
                else {}
            ),
        }
        profile_path = work_dir / "worker.prof"
        group = WorkerGroup.start(env, work_dir, workers, profile_path if profile else None)
        try:
            group.wait_ready(partitions)
            held_s = settings.worker.changelog_hold_ms / 1000 + 0.5
            if history:
                build_history(settings, names["reports"], run, group, history, history_hours)
                time.sleep(held_s)  # its table writes reach the changelog before the count
            each_before = group.processed_each()
            processed_before = sum(each_before)
            changelog_before = group.changelog()
            statuses = StatusLog()
            follower = threading.Thread(
                target=statuses.follow, args=(settings, names["status"]), daemon=True
            )
            follower.start()
            time.sleep(2)  # the initial statuses of every area
            sent_at: list[float] = []
            lag_samples: list[tuple[float, int]] = []
            sender = threading.Thread(
                target=produce, args=(settings, names["reports"], run, items, rate, sent_at)
            )
            started = time.time()
            cpu_before = group.cpu_seconds()
            sender.start()
            with click.progressbar(length=count, label="through the worker") as bar:
                through = 0
                deadline = time.monotonic() + max(120.0, count / 200)
                while time.monotonic() < deadline:
                    time.sleep(1)
                    # max: a health page that did not answer counts as no progress, not as less
                    processed = max(through, group.processed() - processed_before)
                    lag_samples.append((time.time() - started, len(sent_at) - processed))
                    bar.update(processed - through)
                    through = processed
                    if processed >= count and not sender.is_alive():
                        break
            sender.join()
            cpu_used, cpu_wall = group.cpu_seconds() - cpu_before, time.time() - started
            rss_mib = group.rss_mib()
            # The last statuses, and the table writes the workers still hold back.
            time.sleep(max(emit_interval_ms / 1000 * 2 if emit_interval_ms else 2.5, held_s))
            statuses.stop.set()
            follower.join(10)
            per_worker = [
                done - before
                for done, before in zip(group.processed_each(), each_before, strict=True)
            ]
            changelog = {
                name: value - changelog_before[name] for name, value in group.changelog().items()
            }
        finally:
            group.stop()

        latencies, last_covered, missing = [], 0.0, 0
        timed: list[tuple[float, float]] = []
        measured_from = next(
            (i for i, at in enumerate(sent_at) if at - sent_at[0] >= warmup), len(sent_at)
        )
        for index, template in enumerate(items):
            covered = statuses.coverage(template.district, sent_at[index])
            if covered is None:
                missing += 1
                continue
            if index < measured_from:
                continue
            latencies.append((covered - sent_at[index]) * 1000)
            timed.append((sent_at[index] - sent_at[0], latencies[-1]))
            last_covered = max(last_covered, covered)
        timeline = latency_by_second(timed)
        seconds = (last_covered - sent_at[measured_from]) if latencies else 0.0
        worker_figure = Figure(
            "sitrep worker produce->status",
            len(latencies),
            seconds,
            ceiling_name=ceiling_figure.name,
            ceiling_rate=ceiling_figure.rate,
            latency_ms=percentiles(latencies, (50, 99)),
            notes=f"{missing} reports never covered; emit interval "
            f"{emit_interval_ms or settings.worker.emit_interval_ms} ms",
        )
        send_seconds = (sent_at[-1] - sent_at[0]) if len(sent_at) > 1 else 0.0
        send_figure = Figure("producer send rate (offered load)", len(sent_at), send_seconds)
        figures = [ceiling_figure, send_figure, worker_figure]
        click.echo(format_table(figures))
        peak_lag = max((lag for at, lag in lag_samples if at >= warmup), default=0)
        click.echo(
            f"consumer lag (sent - processed), sampled each second: peak {peak_lag}, "
            f"last {lag_samples[-1][1] if lag_samples else 0}; "
            f"status records read: {statuses.records}"
        )
        if timeline:
            worst = max(timeline, key=lambda second: second["p99"])
            click.echo(
                f"slowest second: reports sent {worst['second']:.0f} s in had p99 "
                f"{worst['p99']:.0f} ms, max {worst['max']:.0f} ms (each second: the result file)"
            )
        if workers > 1:
            # Faust's assignor shares partitions, not reports: with few keys (a province's
            # regencies) one worker can get most of the load, and the latency follows it.
            click.echo(
                "share of reports per worker: "
                + " / ".join(f"{share:.0f} %" for share in shares(per_worker))
            )
        # CPU per report moves less from run to run than the latency does: the figure to
        # compare when the worker's code changes.
        cpu_ms_per_1000 = cpu_used / max(1, len(sent_at)) * 1e6
        click.echo(
            f"worker CPU: {cpu_ms_per_1000:.0f} ms per 1,000 reports "
            f"({cpu_used / max(cpu_wall, 1e-9):.2f} cores on average while sending)"
        )
        click.echo("worker RSS at the end: " + " / ".join(f"{rss:.0f} MiB" for rss in rss_mib))
        reports_sent = max(1, len(sent_at))
        click.echo(
            f"changelog: {changelog['bytes_sent'] / reports_sent:,.0f} bytes and "
            f"{changelog['records_sent'] / reports_sent:.2f} records per report "
            f"({changelog['writes'] / reports_sent:.2f} table writes per report; "
            f"SITREP_WORKER__CHANGELOG_HOLD_MS={settings.worker.changelog_hold_ms})"
        )
        if missing:
            click.echo(f"warning: {missing} reports were never covered by a status record")
        params: dict[str, object] = {
            "count": count,
            "rate": rate,
            "warmup_s": warmup,
            "measured_from_report": measured_from,
            "partitions": partitions,
            "workers": workers,
            "emit_interval_ms": emit_interval_ms or settings.worker.emit_interval_ms,
            "lag_samples": lag_samples,
            "latency_by_second": timeline,
            "processed_per_worker": per_worker,
            "history_hours": history_hours,
            "history_count": history,
            "worker_cpu_ms_per_1000_reports": round(cpu_ms_per_1000, 1),
            "worker_rss_mib": rss_mib,
            "changelog": changelog,
            "changelog_hold_ms": settings.worker.changelog_hold_ms,
            "run": run,
        }
        if profile and profile_path.exists():
            params["profile"] = str(profile_path)
            click.echo(hot_spots(profile_path))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        result = write_result(
            settings.home / "bench" / f"worker-{stamp}.json", "worker", figures, params
        )
        click.echo(f"result: {result}")
        return result


def hot_spots(path: Path, limit: int = 25) -> str:
    """The functions with the most own time, and the project's functions by cumulative time."""
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(r"streams|schemas", limit)
    return out.getvalue()
