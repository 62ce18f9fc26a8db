"""A request the intake rejects leaves a dead-letter record; the bearer token it came with is
never in it (neither in the record nor in the raw bytes kept), only the token's unit."""

from __future__ import annotations

import base64
import hashlib
import json

from fastapi.testclient import TestClient

from tests.producers.conftest import report_document
from tests.security.conftest import DEADLETTER_TOPIC, IntakeApp, bearer


def test_no_rejection_stores_the_token(intake: IntakeApp) -> None:
    client = TestClient(intake.app)
    token = intake.tokens["balikpapan"]
    headers = {**bearer(token), "X-Token": token}  # even echoed in another header
    accepted = report_document()
    assert client.post("/v1/reports", json=accepted, headers=headers).status_code == 202
    answers = [
        client.post("/v1/reports", content=b'{"report_id": "rusak', headers=headers),
        client.post("/v1/reports", json=[report_document(severity=0)], headers=headers),
        client.post(
            "/v1/reports",
            json=report_document(district="64.72", subdistrict="64.72.03"),
            headers=headers,
        ),
        client.post("/v1/reports", json={**accepted, "severity": 5}, headers=headers),
    ]
    assert [a.status_code for a in answers] == [422, 422, 403, 409]
    for answer in answers:
        assert token not in answer.text
    records = intake.producer.values(DEADLETTER_TOPIC)
    assert len(records) == 4
    hashed = hashlib.sha256(token.encode()).hexdigest()
    for value in records:
        record = json.loads(value)
        raw = base64.b64decode(record["raw_base64"])
        for stored in (value, raw):
            assert token.encode() not in stored
            assert hashed.encode() not in stored
            assert b"Bearer" not in stored
        assert record["source"] == "http:Polres balikpapan"
