"""Alerts in the web API against the real stack: list, acknowledge (authenticated), silences.

An acknowledgement must land on the alert-commands topic keyed for the worker that owns the
alert; silences on the compacted silences topic, where a delete is a tombstone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from schemas.alert import AlertAck, AlertState
from schemas.audit import AuditAction, AuditRecord
from sinks.documents import alert_action
from sinks.es.names import IndexNames
from sinks.es.setup import setup
from sinks.web.app import create_app
from sinks.web.operators import OperatorRole, add_operator, new_operator_grant
from sitrep import clients
from sitrep.settings import Settings, TopicNames
from sitrep.topics import desired_topics, ensure_topics
from tests.sinks.alert_records import NOW, alert, read_all


@pytest.fixture(scope="module")
def env(local_stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tag = f"ital{uuid.uuid4().hex[:8]}"
    topics = TopicNames(**{role: f"{tag}.{role}" for role, _ in local_stack.kafka.topics})
    home = tmp_path_factory.mktemp("web-home")
    settings = local_stack.model_copy(
        update={
            "home": home,
            "kafka": local_stack.kafka.model_copy(update={"topics": topics}),
            "indexer": local_stack.indexer.model_copy(update={"index_prefix": tag}),
        }
    )
    admin = clients.kafka_admin(settings)
    ensure_topics(admin, desired_topics(settings.kafka))
    es = clients.elasticsearch(settings)
    setup(es, settings.indexer)
    names = IndexNames(tag)
    for record in (alert(AlertState.FIRING), alert(AlertState.RESOLVED, area="64.72.01")):
        action = alert_action(record, names, NOW)
        es.index(index=action.index, id=action.doc_id, document=json.loads(action.document))
    es.indices.refresh(index=names.alerts)
    commander_token, commander = new_operator_grant("AKBP Suryadi", (OperatorRole.COMMANDER,), NOW)
    analyst_token, analyst = new_operator_grant("Analis Ops", (OperatorRole.ANALYST,), NOW)
    tokens = settings.web.tokens_path(home)
    add_operator(tokens, commander)
    add_operator(tokens, analyst)
    with TestClient(create_app(settings, es=es)) as client:
        yield settings, client, commander_token, analyst_token
    admin.delete_topics([name for _, name in topics])
    admin.close()
    es.indices.delete(index=f"{tag}-*")
    for family in ("reports", "status", "status-history", "alerts"):
        es.indices.delete_index_template(name=f"{tag}-{family}")
    es.cluster.delete_component_template(name=f"{tag}-settings")
    es.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_alerts_are_listed_newest_first_and_filtered_by_state_and_area(env: Any) -> None:
    _, client, _, analyst_token = env
    assert client.get("/v1/alerts").status_code == 401  # anonymous callers are viewers
    headers = bearer(analyst_token)
    listed = client.get("/v1/alerts", headers=headers).json()["alerts"]
    assert [a["area_code"] for a in listed] == ["64.72.01", "64.71.01"]
    firing = client.get("/v1/alerts", params={"state": "firing"}, headers=headers).json()
    assert [a["state"] for a in firing["alerts"]] == ["firing"]
    by_area = client.get("/v1/alerts?area=64.72", headers=headers).json()["alerts"]
    assert [a["area_code"] for a in by_area] == ["64.72.01"]


def test_acknowledge_needs_the_commander_role(env: Any) -> None:
    _, client, _, analyst_token = env
    alert_id = alert(AlertState.FIRING).alert_id
    assert client.post(f"/v1/alerts/{alert_id}/ack").status_code == 401
    assert client.post(f"/v1/alerts/{alert_id}/ack", headers=bearer("nope")).status_code == 401
    refused = client.post(f"/v1/alerts/{alert_id}/ack", headers=bearer(analyst_token))
    assert refused.status_code == 403
    assert "commander" in refused.json()["error"]["message"]


def test_acknowledge_sends_a_command_keyed_for_the_owning_worker(env: Any) -> None:
    settings, client, commander_token, _ = env
    alert_id = alert(AlertState.FIRING).alert_id
    answer = client.post(
        f"/v1/alerts/{alert_id}/ack", headers=bearer(commander_token), json={"note": "meluncur"}
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["acknowledged_by"] == "AKBP Suryadi"
    [(key, value)] = read_all(settings, settings.kafka.topics.alert_commands)
    assert key == "64.71"  # regency of 64.71.01: the reports partition that holds the alert
    assert value is not None
    ack = AlertAck.model_validate_json(value)
    assert (ack.alert_id, ack.acknowledged_by, ack.note) == (alert_id, "AKBP Suryadi", "meluncur")


def test_acknowledging_unknown_or_resolved_alerts_is_refused(env: Any) -> None:
    _, client, commander_token, _ = env
    missing = client.post("/v1/alerts/alert-nope-123/ack", headers=bearer(commander_token))
    assert missing.status_code == 404
    assert "tidak ditemukan" in missing.json()["error"]["message"]
    resolved = alert(AlertState.RESOLVED, area="64.72.01").alert_id
    gone = client.post(f"/v1/alerts/{resolved}/ack?lang=en", headers=bearer(commander_token))
    assert gone.status_code == 409
    assert "already resolved" in gone.json()["error"]["message"]


def test_silences_are_added_listed_and_removed(env: Any) -> None:
    settings, client, commander_token, _ = env
    assert client.post("/v1/silences", json={"duration_minutes": 60}).status_code == 401
    bad = client.post(
        "/v1/silences",
        headers=bearer(commander_token),
        json={"rule_id": "bentrok-beruntun"},
    )
    assert bad.status_code == 422
    created = client.post(
        "/v1/silences",
        headers=bearer(commander_token),
        json={"rule_id": "bentrok-beruntun", "area_code": "64.71", "duration_minutes": 90},
    )
    assert created.status_code == 201, created.text
    silence_id = created.json()["silence_id"]
    assert created.json()["created_by"] == "AKBP Suryadi"
    listed = client.get("/v1/silences", headers=bearer(commander_token)).json()["silences"]
    assert [s["silence_id"] for s in listed] == [silence_id]
    assert (
        client.delete(f"/v1/silences/{silence_id}", headers=bearer(commander_token)).status_code
        == 204
    )
    assert client.get("/v1/silences", headers=bearer(commander_token)).json()["silences"] == []
    records = read_all(settings, settings.kafka.topics.silences)
    assert records[-1] == (silence_id, None)  # a tombstone, so compaction forgets it


def test_cli_lists_and_acknowledges(env: Any, tmp_path: Path) -> None:
    from sitrep.cli import main

    settings, _, _, _ = env
    environment = {
        "SITREP_HOME": str(settings.home),
        "SITREP_INDEXER__INDEX_PREFIX": settings.indexer.index_prefix,
        **{f"SITREP_KAFKA__TOPICS__{role.upper()}": name for role, name in settings.kafka.topics},
    }
    runner = CliRunner()
    listed = runner.invoke(main, ["alerts", "list", "--state", "firing"], env=environment)
    assert listed.exit_code == 0, listed.output
    assert "Balikpapan Selatan" in listed.output and "firing" in listed.output
    alert_id = alert(AlertState.FIRING).alert_id
    acked = runner.invoke(main, ["alerts", "ack", alert_id, "--by", "Kabag Ops"], env=environment)
    assert acked.exit_code == 0, acked.output
    commands = read_all(settings, settings.kafka.topics.alert_commands)
    assert AlertAck.model_validate_json(commands[-1][1] or b"").acknowledged_by == "Kabag Ops"
    # The command line leaves the same audit trail as the web service.
    trail = [
        AuditRecord.model_validate_json(value or b"")
        for _, value in read_all(settings, settings.kafka.topics.audit)
    ]
    by_cli = [r for r in trail if r.via == "cli" and r.target == alert_id]
    assert [(r.user, r.action) for r in by_cli] == [("Kabag Ops", AuditAction.ACKNOWLEDGE)]
    unknown = runner.invoke(main, ["alerts", "ack", "alert-x-1"], env=environment)
    assert unknown.exit_code != 0 and "not found" in unknown.output
