"""``sitrep bench pipeline``: the whole pipeline at a sustained rate, then a burst.

Intake, worker(s), indexer and notifier run as real ``sitrep`` processes on the local stack,
with topics, indices and consumer groups of their own (``bench-<id>``, removed afterwards).
A sender posts a shipped scenario's reports to the HTTP intake in batches, paced to the rate,
with ``occurred_at`` = the moment of sending:

1. warm-up (not measured), then the sustained phase at ``--rate``, then (``--burst``) 60 s at
   ten times the rate, then the drain: until the worker and the indexer have no lag left;
2. every two seconds: the consumer lag of worker and indexer, CPU and RSS of every process
   (the pipeline's, Kafka's and Elasticsearch's);
3. afterwards, from timestamps inside the messages: ``received_at`` (set by the intake) of each
   report -> the ``updated_at`` of the first status record covering it, -> the Kafka time of
   the alert it fired, -> the webhook delivery of that alert; and -> the moment a poller first
   found a sample of the reports by search (every batch's first report).

The ceiling, measured in the same run: raw kafka-python producing the same report bytes while
a consumer reads them back, the least any pipeline on Kafka pays.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import click
import httpx

from bench.harness import Figure, format_table, percentiles, write_result
from bench.procstat import Sampler
from bench.worker import StatusLog
from sitrep.commands.common import Context, fail, pass_context
from sitrep.settings import Settings
from streams.settings import WorkerSettings

log = logging.getLogger("sitrep.bench")

# Shipped scenarios and the day whose reports are sent (the busiest of each: voting day).
WORKLOADS: Final = {
    "kaltim": ("pilkada-kaltim-2024", date(2024, 11, 27)),
    "nationwide": ("pilkada-serentak-2024-nasional", date(2024, 11, 27)),
}
TEMPLATE_COUNT: Final = 30_000  # distinct reports taken from the scenario, then repeated
BURST_FACTOR: Final = 10
SAMPLE_EVERY_S: Final = 2.0
DEPLOYED_EMIT_INTERVAL_MS: Final = WorkerSettings.model_fields["emit_interval_ms"].default
DRAIN_LIMIT_S: Final = 900.0  # the target is 300 s; longer shows by how much it is missed


# --- the workload ------------------------------------------------------------------------------


def scenario_templates(
    workload: str, count: int = TEMPLATE_COUNT, seed: int = 1
) -> list[dict[str, Any]]:
    """Valid reports of the workload's voting day, in arrival order (no invalid submissions
    or duplicates: this measures what gets through)."""
    from producers.simulator.engine import Simulator
    from producers.simulator.scenario import load_scenario
    from schemas.registry import default_registry

    scenario_name, day = WORKLOADS[workload]
    simulator = Simulator(load_scenario(scenario_name), default_registry(), seed)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    templates: list[dict[str, Any]] = []
    for record in simulator.records(start, None):
        if record.kind in ("invalid", "duplicate"):
            continue
        templates.append(json.loads(record.raw))
        if len(templates) >= count:
            break
    if not templates:
        fail(f"scenario {scenario_name} gave no reports for {day}")
    return templates


def stamped(template: dict[str, Any], run: str, number: int, now: datetime) -> dict[str, Any]:
    """The ``number``-th report sent: unique id, happening now (follow-ups of one pass through
    the templates stay linked to their incident)."""
    cycle = number // TEMPLATE_COUNT
    report = dict(template)
    report["report_id"] = f"{run}-{number}"
    report["occurred_at"] = now.isoformat()
    report.pop("received_at", None)  # the intake's to set
    if report.get("incident_id"):
        report["incident_id"] = f"{report['incident_id']}-{run}-{cycle}"
    return report


@dataclass(frozen=True)
class Phase:
    name: str  # warmup, sustained, burst
    rate: float
    seconds: float


def schedule(rate: float, warmup_s: float, sustained_s: float, burst_s: float) -> list[Phase]:
    phases = [Phase("warmup", rate, warmup_s), Phase("sustained", rate, sustained_s)]
    if burst_s > 0:
        phases.append(Phase("burst", rate * BURST_FACTOR, burst_s))
    return [p for p in phases if p.seconds > 0]


# --- sending -----------------------------------------------------------------------------------


@dataclass
class SentBatch:
    phase: str
    sent_at: float  # time.time() when the request went out
    ids: list[str]
    districts: list[str]
    accepted: int = 0
    status: int = 0


@dataclass
class Sender:
    """Posts batches to the intake on a few connections, each batch when it is due."""

    url: str
    token: str
    templates: list[dict[str, Any]]
    run: str
    batch_size: int
    connections: int
    batches: list[SentBatch] = field(default_factory=list)
    phase_bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    behind_s: float = 0.0  # the most the sender fell behind its schedule
    _number: int = 0

    def run_phases(self, phases: Sequence[Phase], progress: Any) -> None:
        clients = [
            httpx.Client(headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
            for _ in range(self.connections)
        ]
        pool = ThreadPoolExecutor(self.connections, thread_name_prefix="bench-send")
        in_flight: list[Future[None]] = []
        try:
            for phase in phases:
                started = time.time()
                total = int(phase.rate * phase.seconds)
                for first in range(0, total, self.batch_size):
                    due = started + first / phase.rate
                    wait = due - time.time()
                    if wait > 0:
                        time.sleep(wait)
                    else:
                        self.behind_s = max(self.behind_s, -wait)
                    size = min(self.batch_size, total - first)
                    batch = self._next_batch(phase.name, size)
                    client = clients[(first // self.batch_size) % len(clients)]
                    in_flight.append(pool.submit(self._post, client, batch))
                    in_flight = [f for f in in_flight if not f.done()]
                    # More than a few requests waiting means the intake cannot keep up:
                    # wait for it rather than queueing without bound.
                    while len(in_flight) > self.connections * 2:
                        in_flight[0].result()
                        in_flight = [f for f in in_flight if not f.done()]
                    progress.update(size)
                for future in in_flight:
                    future.result()
                in_flight = []
                self.phase_bounds[phase.name] = (started, time.time())
        finally:
            pool.shutdown(wait=True)
            for client in clients:
                client.close()

    def _next_batch(self, phase: str, size: int) -> tuple[SentBatch, bytes]:
        now = datetime.now(UTC)
        reports = []
        for _ in range(size):
            template = self.templates[self._number % len(self.templates)]
            reports.append(stamped(template, self.run, self._number, now))
            self._number += 1
        batch = SentBatch(
            phase,
            now.timestamp(),
            [r["report_id"] for r in reports],
            [r["district"] for r in reports],
        )
        self.batches.append(batch)
        return batch, json.dumps(reports, ensure_ascii=False, separators=(",", ":")).encode()

    def _post(self, client: httpx.Client, item: tuple[SentBatch, bytes]) -> None:
        batch, body = item
        for attempt in range(5):
            try:
                answer = client.post(
                    self.url, content=body, headers={"Content-Type": "application/json"}
                )
            except httpx.HTTPError as exc:
                log.warning("intake request failed (attempt %d): %s", attempt + 1, exc)
                time.sleep(0.5)
                continue
            batch.status = answer.status_code
            if answer.status_code == 202:
                answered = answer.json()
                batch.accepted = len(answered.get("accepted", [])) + len(
                    answered.get("duplicates", [])
                )
                return
            if answer.status_code < 500:
                log.warning("intake refused a batch: %s %s", answer.status_code, answer.text[:300])
                return
            time.sleep(0.5)


# --- watching ----------------------------------------------------------------------------------


@dataclass
class SearchProbe:
    """Finds sampled report ids by search and notes when each first became visible."""

    es: Any
    alias: str
    pending: dict[str, float] = field(default_factory=dict)  # id -> sent_at
    seen_at: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    give_up_at: float = float("inf")  # once stopped: when to stop looking for the rest

    def add(self, report_id: str, sent_at: float) -> None:
        with self.lock:
            self.pending[report_id] = sent_at

    def follow(self) -> None:
        while not (self.stop.is_set() and not self.pending):
            with self.lock:
                ids = list(self.pending)[:500]
            if ids:
                try:
                    found = self.es.options(ignore_status=404).search(
                        index=self.alias,
                        query={"terms": {"report_id": ids}},
                        size=len(ids),
                        source=["report_id"],
                    )
                except Exception as exc:  # an ES hiccup must not end the probe
                    log.warning("search probe failed: %s", exc)
                    found = {}
                now = time.time()
                with self.lock:
                    for hit in found.get("hits", {}).get("hits", []):
                        report_id = hit["_source"]["report_id"]
                        if self.pending.pop(report_id, None) is not None:
                            self.seen_at[report_id] = now
            if self.stop.is_set():
                time.sleep(0.2)
                if time.time() > self.give_up_at:
                    return
            time.sleep(0.1)

    def finish(self, within_s: float) -> None:
        self.give_up_at = time.time() + within_s
        self.stop.set()


@dataclass(frozen=True)
class LagSample:
    at: float  # time.time()
    worker: int
    indexer: int


# --- measuring ---------------------------------------------------------------------------------


def received_times(settings: Settings, topic: str) -> tuple[dict[str, float], dict[str, float]]:
    """report id -> received_at, and report id -> the record's Kafka timestamp (the intake's
    producer sets it when it hands the record over), in epoch seconds, of every report on
    ``topic``."""
    from sitrep import clients

    consumer = clients.kafka_consumer(settings, topic, group_id=None, consumer_timeout_ms=2000)
    received: dict[str, float] = {}
    handed_over: dict[str, float] = {}
    try:
        for record in consumer:
            if record.value is None:
                continue
            report = json.loads(record.value)
            report_id = report["report_id"]
            received[report_id] = datetime.fromisoformat(report["received_at"]).timestamp()
            handed_over[report_id] = record.timestamp / 1000
    finally:
        consumer.close()
    return received, handed_over


def fired_alerts(settings: Settings, topic: str) -> dict[str, tuple[float, tuple[str, ...]]]:
    """alert id -> (Kafka time of its first ``fired`` record, evidence report ids)."""
    from sitrep import clients

    consumer = clients.kafka_consumer(settings, topic, group_id=None, consumer_timeout_ms=2000)
    result: dict[str, tuple[float, tuple[str, ...]]] = {}
    try:
        for record in consumer:
            if record.value is None:
                continue
            alert = json.loads(record.value)
            if alert.get("change") == "fired" and alert["alert_id"] not in result:
                evidence = tuple(alert.get("evidence_report_ids", ()))
                result[alert["alert_id"]] = (record.timestamp / 1000, evidence)
    finally:
        consumer.close()
    return result


def alert_latencies(
    fired: dict[str, tuple[float, tuple[str, ...]]],
    received: dict[str, float],
    window: tuple[float, float],
) -> tuple[list[float], dict[str, float]]:
    """Milliseconds from the newest evidence report's ``received_at`` to the alert on Kafka, for
    alerts caused by a report received in ``window``; and each such alert's trigger time."""
    latencies: list[float] = []
    triggers: dict[str, float] = {}
    for alert_id, (at, evidence) in fired.items():
        times = [received[r] for r in evidence if r in received]
        if not times:
            continue  # not caused by a report (e.g. flatline)
        trigger = max(times)
        if window[0] <= trigger <= window[1]:
            triggers[alert_id] = trigger
            latencies.append(max(0.0, at - trigger) * 1000)
    return latencies, triggers


def webhook_latencies(deliveries: Sequence[Any], triggers: dict[str, float]) -> list[float]:
    """Milliseconds from the trigger report's ``received_at`` to the first webhook delivery of
    the alert's firing notification on any channel (the notifier's key is
    ``alert/state/tier/channel``)."""
    first: dict[str, float] = {}
    for delivery in deliveries:
        alert_id, _, rest = delivery.key.partition("/")
        if alert_id in triggers and rest.startswith("firing/"):
            first[alert_id] = min(first.get(alert_id, delivery.arrived_at), delivery.arrived_at)
    return [max(0.0, at - triggers[alert_id]) * 1000 for alert_id, at in first.items()]


def status_latencies(
    batches: Sequence[SentBatch],
    received: dict[str, float],
    statuses: StatusLog,
    phase: str,
) -> tuple[list[float], int]:
    """Milliseconds from ``received_at`` to the first status record of the report's regency
    that covers it; and how many reports no status record covered."""
    latencies: list[float] = []
    missing = 0
    for batch in batches:
        if batch.phase != phase:
            continue
        for report_id, district in zip(batch.ids, batch.districts, strict=True):
            got = received.get(report_id)
            if got is None:
                continue
            covered = statuses.coverage(district, batch.sent_at)
            if covered is None:
                missing += 1
                continue
            latencies.append(max(0.0, covered - got) * 1000)
    return latencies, missing


def intake_latencies(
    batches: Sequence[SentBatch],
    received: Mapping[str, float],
    handed_over: Mapping[str, float],
    phase: str,
) -> list[float]:
    """Milliseconds from ``received_at`` to the Kafka timestamp of the report's record: what
    the intake spends (validation, duplicate store, its producer's queue) before Kafka."""
    return [
        max(0.0, handed_over[report_id] - received[report_id]) * 1000
        for batch in batches
        if batch.phase == phase
        for report_id in batch.ids
        if report_id in received and report_id in handed_over
    ]


def lag_trend(samples: Sequence[LagSample], window: tuple[float, float]) -> tuple[float, int, int]:
    """(growth in reports/s over the window from a least-squares fit, first, last) of the
    worker's plus the indexer's lag: a flat lag grows by about nothing."""
    chosen = [s for s in samples if window[0] <= s.at <= window[1]]
    if len(chosen) < 2:
        return 0.0, 0, 0
    xs = [s.at - chosen[0].at for s in chosen]
    ys = [max(s.worker, s.indexer) for s in chosen]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = (
        sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
        if spread
        else 0.0
    )
    return slope, ys[0], ys[-1]


def raw_ceiling(settings: Settings, topic: str, payloads: Sequence[tuple[bytes, bytes]]) -> Figure:
    """kafka-python producing ``payloads`` while a consumer reads them back."""
    from kafka import TopicPartition

    from sitrep import clients
    from sitrep.topics import TopicSpec, ensure_topics

    admin = clients.kafka_admin(settings)
    try:
        spec = TopicSpec(topic, settings.kafka.partitions, settings.kafka.replication_factor)
        ensure_topics(admin, [spec])
    finally:
        admin.close()

    consumer = clients.kafka_consumer(settings)
    partitions = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    received = 0
    last = [0.0]

    def consume() -> None:
        nonlocal received
        deadline = time.monotonic() + 300
        while received < len(payloads) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                received += len(batch)
                last[0] = time.perf_counter()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    producer = clients.kafka_producer(settings, linger_ms=20, batch_size=256 * 1024)
    started = time.perf_counter()
    for key, value in payloads:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()
    reader.join(300)
    consumer.close()
    return Figure("raw kafka-python produce+consume (ceiling)", received, last[0] - started)


def stack_pids(settings: Settings) -> dict[str, int]:
    from sitrep.stack.process import running_record

    pids = {}
    for name in ("kafka", "elasticsearch"):
        record = running_record(settings.home / "run" / f"{name}.pid")
        if record is not None:
            pids[name] = record.pid
    return pids


# --- the command -------------------------------------------------------------------------------


@click.command()
@click.option(
    "--workload",
    type=click.Choice(sorted(WORKLOADS)),
    default="kaltim",
    show_default=True,
    help="Scenario whose voting-day reports are sent (nationwide: 514 regencies).",
)
@click.option("--rate", default=2500.0, show_default=True, help="Sustained reports/s offered.")
@click.option(
    "--warmup", "warmup_s", default=30.0, show_default=True, help="Seconds, not measured."
)
@click.option(
    "--duration", "sustained_s", default=120.0, show_default=True, help="Sustained seconds."
)
@click.option(
    "--burst",
    "burst_s",
    default=0.0,
    show_default=True,
    help=f"Seconds at {BURST_FACTOR}x the rate after the sustained phase (0: none).",
)
@click.option("--workers", default=1, show_default=True, help="Worker processes.")
@click.option(
    "--emit-interval-ms",
    default=None,
    type=click.IntRange(min=50),
    help="Worker debounce (default: as deployed, 1000).",
)
@click.option("--batch", "batch_size", default=100, show_default=True, help="Reports per POST.")
@click.option("--connections", default=4, show_default=True, help="Concurrent HTTP clients.")
@click.option("--keep", is_flag=True, help="Keep the run's topics and indices.")
@pass_context
def command(
    ctx: Context,
    workload: str,
    rate: float,
    warmup_s: float,
    sustained_s: float,
    burst_s: float,
    workers: int,
    emit_interval_ms: int | None,
    batch_size: int,
    connections: int,
    keep: bool,
) -> Path:
    """The whole pipeline (intake -> worker -> indexer, notifier) at a sustained rate."""
    from sitrep.chaos.pipeline import Pipeline, RunNames
    from sitrep.chaos.receiver import Receiver

    settings = ctx.settings
    for noisy in ("httpx", "kafka", "elastic_transport"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if rate <= 0 or sustained_s <= 0:
        fail("--rate and --duration must be positive")
    run = f"bench-{uuid.uuid4().hex[:8]}"
    names = RunNames(run)
    work = settings.home / "bench" / run
    templates = scenario_templates(workload)
    phases = schedule(rate, warmup_s, sustained_s, burst_s)
    total = sum(int(p.rate * p.seconds) for p in phases)
    click.echo(
        f"run {run}: {workload} ({len(templates)} distinct reports), "
        + ", ".join(f"{p.name} {p.rate:g}/s x {p.seconds:g} s" for p in phases)
        + f", {workers} worker(s)"
    )

    receiver = Receiver()
    receiver.start()
    pipeline = Pipeline(settings, names, work, receiver, workers)
    try:
        pipeline.prepare()
        _deploy_defaults(pipeline, emit_interval_ms)
        ceiling = raw_ceiling(
            settings,
            f"{run}.ceiling",
            [
                (t["district"].encode(), json.dumps(t, separators=(",", ":")).encode())
                for t in templates
            ],
        )
        click.echo(f"ceiling: {ceiling.rate:.0f} records/s")
        pipeline.start()
        result = _measure(pipeline, templates, phases, total, batch_size, connections, ceiling)
        figures, params = result
        params.update(
            workload=workload,
            rate=rate,
            warmup_s=warmup_s,
            sustained_s=sustained_s,
            burst_s=burst_s,
            workers=workers,
            emit_interval_ms=emit_interval_ms or DEPLOYED_EMIT_INTERVAL_MS,
            batch=batch_size,
            connections=connections,
            partitions=settings.kafka.partitions,
            run=run,
        )
    finally:
        pipeline.stop()
        receiver.stop()
        if not keep:
            pipeline.cleanup()
            _drop_ceiling_topic(settings, f"{run}.ceiling")
    click.echo(format_table(figures))
    click.echo(_process_table(params["processes"]))
    for line in params["verdicts"]:
        click.echo(line)
    if params["through_per_s"]:
        click.echo(
            f"got through {params['through_per_s']:.0f} reports/s "
            "(all accepted / first send until no lag was left)"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = write_result(
        settings.home / "bench" / f"pipeline-{stamp}.json", "pipeline", figures, params
    )
    click.echo(f"result: {path}")
    return path


def _deploy_defaults(pipeline: Any, emit_interval_ms: int | None) -> None:
    """The chaos pipeline pins event time and short intervals for repeatable results; a
    benchmark measures the worker as deployed (live clock, default debounce and heartbeat),
    with the debounce of ``--emit-interval-ms`` when given (a SITREP_WORKER__EMIT_INTERVAL_MS of
    the caller's environment is not used, so the result file says what was measured)."""
    for role in pipeline.roles.values():
        if role.args == ("worker",):
            for name in (
                "SITREP_WORKER__CLOCK",
                "SITREP_WORKER__EMIT_INTERVAL_MS",
                "SITREP_WORKER__HEARTBEAT_S",
            ):
                role.env.pop(name, None)
            if emit_interval_ms is not None:
                role.env["SITREP_WORKER__EMIT_INTERVAL_MS"] = str(emit_interval_ms)


def _measure(
    pipeline: Any,
    templates: list[dict[str, Any]],
    phases: list[Phase],
    total: int,
    batch_size: int,
    connections: int,
    ceiling: Figure,
) -> tuple[list[Figure], dict[str, Any]]:
    from sitrep import clients

    settings = pipeline.settings
    run = pipeline.names.run_id
    es = clients.elasticsearch(settings)
    statuses = StatusLog()
    threading.Thread(
        target=statuses.follow, args=(settings, settings.kafka.topics.status), daemon=True
    ).start()
    probe = SearchProbe(es, f"{run}-reports")
    prober = threading.Thread(target=probe.follow, daemon=True)
    prober.start()
    sampler = Sampler()
    lags: list[LagSample] = []
    sending = threading.Event()
    sending.set()
    admin = clients.kafka_admin(settings)

    def sample_forever() -> None:
        from sitrep.topics import group_lag

        while sending.is_set():
            pids = {n: r.process.pid for n, r in pipeline.roles.items() if r.alive}
            sampler.sample({**pids, **stack_pids(settings)})
            try:
                lags.append(
                    LagSample(
                        time.time(),
                        group_lag(
                            admin, pipeline.names.worker_app_id, settings.kafka.topics.reports
                        ),
                        group_lag(admin, f"{run}-indexer", settings.kafka.topics.reports),
                    )
                )
            except Exception as exc:  # a sample lost is not a run lost
                log.warning("lag sample failed: %s", exc)
            time.sleep(SAMPLE_EVERY_S)

    sampler_thread = threading.Thread(target=sample_forever, daemon=True)
    sampler_thread.start()
    time.sleep(2)  # the initial statuses of every area
    started_mono = time.monotonic()
    sender = Sender(
        f"http://127.0.0.1:{pipeline.intake_port}/v1/reports",
        pipeline.token,
        templates,
        run,
        batch_size,
        connections,
    )
    sample_hook = _SampleHook(sender, probe)
    with click.progressbar(length=total, label="sending") as bar:
        sender.run_phases(phases, sample_hook.wrap(bar))
    sent_done = time.time()
    drained_at = _drain(lags, sent_done)
    first_sent = sender.batches[0].sent_at if sender.batches else None
    time.sleep(3)  # the last debounced statuses and alerts
    sending.clear()
    sampler_thread.join(10)
    admin.close()
    statuses.stop.set()
    probe.finish(within_s=10)
    prober.join(15)  # its last searches before the client is closed
    deliveries = receiver_snapshot(pipeline)

    received, handed_over = received_times(settings, settings.kafka.topics.reports)
    fired = fired_alerts(settings, settings.kafka.topics.alerts)
    indexed = es.count(index=f"{run}-reports")["count"]
    es.close()

    sustained = sender.phase_bounds.get("sustained", (0.0, 0.0))
    accepted = {
        name: sum(b.accepted for b in sender.batches if b.phase == name)
        for name, _ in sender.phase_bounds.items()
    }
    sent = {name: sum(len(b.ids) for b in sender.batches if b.phase == name) for name in accepted}
    status_ms, uncovered = status_latencies(sender.batches, received, statuses, "sustained")
    alert_ms, triggers = alert_latencies(fired, received, sustained)
    webhook_ms = webhook_latencies(deliveries, triggers)
    search_ms = [
        max(0.0, seen - received[rid]) * 1000
        for rid, seen in probe.seen_at.items()
        if rid in received and sample_hook.phase_of.get(rid) == "sustained"
    ]
    intake_ms = intake_latencies(sender.batches, received, handed_over, "sustained")
    growth, lag_first, lag_last = lag_trend(lags, sustained)
    sustained_seconds = sustained[1] - sustained[0]
    figures = [
        ceiling,
        Figure(
            "pipeline sustained (accepted, indexed)",
            accepted.get("sustained", 0),
            sustained_seconds,
            ceiling_name=ceiling.name,
            ceiling_rate=ceiling.rate,
            notes=f"lag {lag_first} -> {lag_last}, trend {growth:+.1f}/s",
        ),
        Figure(
            "latency received -> handed to Kafka",
            len(intake_ms),
            sustained_seconds,
            latency_ms=percentiles(intake_ms),
            notes="the intake's share of every latency below (Kafka record timestamp)",
        ),
        Figure(
            "latency received -> status",
            len(status_ms),
            sustained_seconds,
            latency_ms=percentiles(status_ms),
        ),
        Figure(
            "latency received -> alert",
            len(alert_ms),
            sustained_seconds,
            latency_ms=percentiles(alert_ms),
        ),
        Figure(
            "latency received -> webhook",
            len(webhook_ms),
            sustained_seconds,
            latency_ms=percentiles(webhook_ms),
        ),
        Figure(
            "latency received -> searchable",
            len(search_ms),
            sustained_seconds,
            latency_ms=percentiles(search_ms),
            notes="every batch's first report, found by a search poll every 0.1 s",
        ),
    ]
    burst = sender.phase_bounds.get("burst")
    drain_s = (drained_at - burst[1]) if (burst and drained_at) else None
    if burst:
        figures.append(
            Figure(
                "burst (accepted)",
                accepted.get("burst", 0),
                burst[1] - burst[0],
                notes=f"lag drained {drain_s:.0f} s after the burst"
                if drain_s is not None
                else "lag not drained",
            )
        )
    processes = _process_figures(sampler, started_mono, sustained, phases)
    all_accepted = sum(accepted.values())
    lost_note = "none lost" if indexed >= all_accepted else f"{all_accepted - indexed} NOT indexed"
    flat_note = "flat" if abs(growth) < 0.01 * phases[0].rate else "NOT flat"
    verdicts = [
        f"sent {sum(sent.values())}, accepted {all_accepted}, on the topic {len(received)}, "
        f"indexed {indexed} ({lost_note})",
        f"sender fell behind its schedule by up to {sender.behind_s:.1f} s",
        f"{uncovered} sustained-phase reports never covered by a status record",
        f"lag over the sustained phase: {lag_first} -> {lag_last}, "
        f"trend {growth:+.1f} reports/s ({flat_note})",
    ]
    params: dict[str, Any] = {
        "sent": sent,
        "accepted": accepted,
        "on_topic": len(received),
        "indexed": indexed,
        "uncovered": uncovered,
        "lag_trend_per_s": growth,
        "drain_s": drain_s,
        # Everything sent, over the time from the first send until no lag was left: what the
        # pipeline got through when it was offered more than it could take.
        "through_per_s": (
            all_accepted / (drained_at - first_sent)
            if drained_at and first_sent and drained_at > first_sent
            else None
        ),
        "sender_behind_s": sender.behind_s,
        "lag_samples": [(round(s.at - sustained[0], 1), s.worker, s.indexer) for s in lags],
        "processes": processes,
        "verdicts": verdicts,
    }
    return figures, params


def receiver_snapshot(pipeline: Any) -> list[Any]:
    snapshot: list[Any] = pipeline.receiver.snapshot()
    return snapshot


@dataclass
class _SampleHook:
    """Feeds the search probe one report per batch as batches go out."""

    sender: Sender
    probe: SearchProbe
    seen: int = 0
    phase_of: dict[str, str] = field(default_factory=dict)

    def wrap(self, bar: Any) -> Any:
        hook = self

        class Progress:
            def update(self, size: int) -> None:
                for batch in hook.sender.batches[hook.seen :]:
                    hook.probe.add(batch.ids[0], batch.sent_at)
                    hook.phase_of[batch.ids[0]] = batch.phase
                hook.seen = len(hook.sender.batches)
                bar.update(size)

        return Progress()


def _drain(lags: list[LagSample], since: float) -> float | None:
    """When worker and indexer had no lag left (epoch seconds), waiting up to the limit."""
    deadline = time.time() + DRAIN_LIMIT_S
    while time.time() < deadline:
        fresh = [s for s in lags if s.at > since + 0.5]
        if fresh and fresh[-1].worker == 0 and fresh[-1].indexer == 0:
            return fresh[-1].at
        time.sleep(0.5)
    return None


def _process_figures(
    sampler: Sampler, started: float, sustained: tuple[float, float], phases: Sequence[Phase]
) -> dict[str, dict[str, float | None]]:
    """Per process: cores used in the sustained phase, RSS max, RSS one minute in and at the
    end of the sustained phase (the memory-bound check)."""
    offset = time.monotonic() - time.time()  # epoch -> monotonic
    window = (sustained[0] + offset, sustained[1] + offset)
    result: dict[str, dict[str, float | None]] = {}
    for name, traces in sampler.by_name().items():
        trace = max(traces, key=lambda t: len(t.readings))  # the longest-lived process
        result[name] = {
            "cpu_cores": trace.cpu_cores(*window),
            "rss_max_mib": trace.rss_max(),
            "rss_1min_mib": trace.rss_at(window[0] + 60),
            "rss_end_mib": trace.rss_at(window[1]),
            "restarts": float(len(traces) - 1),
        }
    return result


def _process_table(processes: dict[str, dict[str, float | None]]) -> str:
    def show(value: float | None, digits: int = 0) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [f"{'process':<16} {'cores':>6} {'RSS max':>9} {'RSS 1 min':>10} {'RSS end':>9}"]
    for name, p in sorted(processes.items()):
        lines.append(
            f"{name:<16} {show(p['cpu_cores'], 2):>6} {show(p['rss_max_mib']):>9} "
            f"{show(p['rss_1min_mib']):>10} {show(p['rss_end_mib']):>9}"
        )
    return "\n".join(lines) + "\n(cores: CPU used in the sustained phase; RSS in MiB)"


def _drop_ceiling_topic(settings: Settings, topic: str) -> None:
    from sitrep import clients

    admin = clients.kafka_admin(settings)
    try:
        if topic in admin.list_topics():
            admin.delete_topics([topic])
    finally:
        admin.close()
