"""The input of a chaos run and the field unit that sends it to the HTTP intake.

The input is a stretch of a shipped scenario (reports, follow-ups, escalation episodes,
duplicates and invalid submissions), moved in time so that it happened two days ago: old
enough that statuses and alerts follow event time only (the same input gives the same
result in every run), recent enough for the worker's lateness window. Built once per chaos
run, it is sent unchanged to the fault-free run and to every scenario.

The sender behaves like a field app with a bad connection: each submission is sent on its own
and retried (same bytes, same report id) until the intake answers for it, so a report the
intake acknowledged twice is still one report downstream.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx
import structlog

from producers.simulator.engine import Simulator
from producers.simulator.scenario import load_scenario
from schemas.registry import AreaRegistry

log = structlog.get_logger("sitrep.chaos")

SCENARIO: Final = "pilkada-kaltim-2024"
# Voting day from 09:00 WITA: episodes escalate, follow-ups resolve, check-ins come and go.
WINDOW_START: Final = datetime.fromisoformat("2024-11-27T09:00:00+08:00")
WINDOW_HOURS: Final = 12
AGE: Final = timedelta(days=2)  # the window ends this long before the run
_TIME_FIELDS: Final = ("occurred_at", "received_at")


@dataclass(frozen=True)
class Submission:
    raw: bytes
    report_id: str | None
    kind: str  # as the simulator made it: check_in, incident, ..., duplicate, invalid


def shift_times(raw: bytes, by: timedelta) -> bytes:
    """The same submission ``by`` later; bytes that are not a JSON object stay as they are
    (an invalid submission must stay exactly as invalid)."""
    try:
        document = json.loads(raw)
    except ValueError:
        return raw
    if not isinstance(document, dict):
        return raw
    for name in _TIME_FIELDS:
        value = document.get(name)
        if isinstance(value, str):
            try:
                document[name] = (datetime.fromisoformat(value) + by).isoformat()
            except ValueError:
                continue
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def build_input(
    registry: AreaRegistry, *, now: datetime, seed: int = 7, limit: int | None = None
) -> list[Submission]:
    """The scenario window as submissions, moved to end ``AGE`` before ``now``."""
    simulator = Simulator(load_scenario(SCENARIO), registry, seed)
    end = WINDOW_START + timedelta(hours=WINDOW_HOURS)
    # Whole hours: minute buckets and local days fall as in the scenario itself.
    by = timedelta(hours=((now - AGE) - end) // timedelta(hours=1))
    out: list[Submission] = []
    for record in simulator.records(WINDOW_START, end):
        out.append(Submission(shift_times(record.raw, by), record.report_id, record.kind))
        if limit is not None and len(out) >= limit:
            break
    return out


@dataclass
class FeedProgress:
    """What the sender has done so far; read by the scenario while it runs."""

    sent: int = 0
    accepted: set[str] = field(default_factory=set)
    invalid: set[bytes] = field(default_factory=set)
    retries: int = 0
    refused: dict[int, int] = field(default_factory=dict)  # unexpected answers by status
    finished_at: float | None = None
    error: str | None = None


class Feeder:
    """Sends the submissions in order at ``rate`` per second in a background thread."""

    def __init__(
        self,
        url: str,
        token: str,
        submissions: Sequence[Submission],
        *,
        rate: float,
        give_up_after_s: float = 300.0,
    ) -> None:
        self.url = url.rstrip("/") + "/v1/reports"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.submissions = submissions
        self.rate = rate
        self.give_up_after_s = give_up_after_s
        self.progress = FeedProgress()
        self._thread = threading.Thread(target=self._run, name="chaos-feed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def fraction_sent(self) -> float:
        return self.progress.sent / max(1, len(self.submissions))

    def _run(self) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        try:
            with httpx.Client(timeout=httpx.Timeout(40.0, connect=2.0)) as client:
                for submission in self.submissions:
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    self._send(client, submission)
                    self.progress.sent += 1
                    next_at = max(next_at + interval, time.monotonic() - 1.0)
        except Exception as exc:
            self.progress.error = f"{type(exc).__name__}: {exc}"
            log.error("feed stopped", error=self.progress.error)
        finally:
            self.progress.finished_at = time.monotonic()

    def _send(self, client: httpx.Client, submission: Submission) -> None:
        deadline = time.monotonic() + self.give_up_after_s
        backoff = 0.1
        while True:
            answer = self._post(client, submission.raw)
            if answer is not None:
                status, body = answer
                if status == 202:
                    self.progress.accepted.update(body.get("accepted", []))
                    return
                if status in (400, 409, 422):
                    self.progress.invalid.add(submission.raw)
                    return
                if status not in (429, 500, 502, 503, 504):
                    self.progress.refused[status] = self.progress.refused.get(status, 0) + 1
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"intake did not answer for {self.give_up_after_s:.0f} s")
            self.progress.retries += 1
            time.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    def _post(self, client: httpx.Client, raw: bytes) -> tuple[int, Any] | None:
        try:
            response = client.post(self.url, content=raw, headers=self.headers)
        except httpx.TransportError:
            return None  # intake down or killed mid-request: send the same bytes again
        try:
            body = response.json()
        except ValueError:
            body = {}
        return response.status_code, body if isinstance(body, dict) else {}


def utc_now() -> datetime:
    return datetime.now(UTC)
