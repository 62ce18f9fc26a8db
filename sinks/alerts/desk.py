"""What people do with alerts: look them up, acknowledge them, silence notifications.

Thin adapter shared by the web API and the CLI. It reads alerts from the ``sitrep-alerts``
index (the audit trail the indexer keeps) and writes commands to Kafka; it never changes an
alert itself. Acknowledgements go to ``sitrep.alert-commands`` for the worker that owns the
alert's state, which publishes the acknowledged alert; silences go to the compacted
``sitrep.silences`` topic the notifier follows.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import structlog
from elasticsearch import Elasticsearch, NotFoundError
from pydantic import ValidationError

from schemas.alert import Alert, AlertAck, AlertState, Silence, command_key
from sinks.es.names import IndexNames
from sitrep.settings import TopicNames

__all__ = [
    "AlertDesk",
    "AlertNotFound",
    "AlertResolved",
    "alert_from_document",
    "current_silences",
    "new_silence_id",
    "readable_alerts",
]

log = structlog.get_logger("sinks.alerts")

SEND_TIMEOUT_S: Final = 30.0
_ALERT_FIELDS: Final = frozenset(Alert.model_fields)


class AlertNotFound(LookupError):
    def __init__(self, alert_id: str) -> None:
        super().__init__(alert_id)
        self.alert_id = alert_id


class AlertResolved(ValueError):
    """A resolved alert cannot be acknowledged any more."""

    def __init__(self, alert: Alert) -> None:
        super().__init__(alert.alert_id)
        self.alert = alert


def alert_from_document(source: dict[str, Any]) -> Alert:
    """The alert of an indexed document (the indexer adds fields such as indexed_at)."""
    return Alert.model_validate({k: v for k, v in source.items() if k in _ALERT_FIELDS})


def readable_alerts(hits: Iterable[Mapping[str, Any]]) -> list[Alert]:
    """The alerts of search hits, in order; a document that is no valid alert (a schema it
    does not know) is logged and left out rather than failing the whole list."""
    alerts = []
    for hit in hits:
        try:
            alerts.append(alert_from_document(dict(hit["_source"])))
        except ValidationError as exc:
            log.warning("unreadable alert document", alert_id=hit.get("_id"), error=str(exc))
    return alerts


def new_silence_id(at: datetime) -> str:
    return f"silence-{at.astimezone(UTC):%Y%m%d%H%M}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class AlertDesk:
    es: Elasticsearch
    names: IndexNames
    producer: Any  # kafka-python KafkaProducer (acks=all, idempotent)
    topics: TopicNames

    # --- reading ---------------------------------------------------------------------------

    def find(self, alert_id: str) -> Alert:
        try:
            found = self.es.get(index=self.names.alerts, id=alert_id)
        except NotFoundError:
            raise AlertNotFound(alert_id) from None
        return alert_from_document(dict(found["_source"]))

    def _newest(self, alert_id: str, known: Alert | None) -> Alert:
        try:
            indexed = self.find(alert_id)
        except AlertNotFound:
            if known is None:
                raise
            return known
        if known is not None and known.updated_at > indexed.updated_at:
            return known
        return indexed

    def recent(
        self, states: Iterable[AlertState] = (), limit: int = 100, area_prefix: str | None = None
    ) -> list[Alert]:
        """Newest first (by updated_at), optionally only some states or one area's."""
        filters: list[dict[str, Any]] = []
        wanted = [state.value for state in states]
        if wanted:
            filters.append({"terms": {"state": wanted}})
        if area_prefix:
            filters.append(
                {
                    "bool": {
                        "should": [
                            {"term": {"area_code": area_prefix}},
                            {"prefix": {"area_code": f"{area_prefix}."}},
                        ]
                    }
                }
            )
        try:
            found = self.es.search(
                index=self.names.alerts,
                query={"bool": {"filter": filters}},
                sort=[{"updated_at": "desc"}],
                size=limit,
            )
        except NotFoundError:
            return []
        return readable_alerts(found["hits"]["hits"])

    # --- commands --------------------------------------------------------------------------

    def acknowledge(
        self,
        alert_id: str,
        by: str,
        at: datetime,
        note: str | None = None,
        known: Alert | None = None,
    ) -> AlertAck:
        """Send the acknowledgement; returns once Kafka has it (the worker applies it).
        ``known``: the alert as the caller already has it from sitrep.alerts (the control
        room's live board), which can be ahead of the index by the indexer's delay."""
        alert = self._newest(alert_id, known)
        if alert.state is AlertState.RESOLVED:
            raise AlertResolved(alert)
        ack = AlertAck(
            alert_id=alert.alert_id,
            area_code=alert.area_code,
            rule_type=alert.rule_type,
            acknowledged_by=by,
            acknowledged_at=at,
            note=note or None,
        )
        self._send(self.topics.alert_commands, command_key(ack), ack.model_dump_json().encode())
        log.info("acknowledgement sent", alert_id=alert.alert_id, by=by)
        return ack

    def add_silence(self, silence: Silence) -> Silence:
        self._send(
            self.topics.silences,
            silence.silence_id,
            silence.model_dump_json(exclude_none=True).encode(),
        )
        log.info(
            "silence added",
            silence_id=silence.silence_id,
            rule_id=silence.rule_id,
            area=silence.area_code,
            until=silence.ends_at.isoformat(),
            by=silence.created_by,
        )
        return silence

    def remove_silence(self, silence_id: str) -> None:
        """A tombstone: compaction forgets the silence, the notifier stops applying it."""
        self._send(self.topics.silences, silence_id, None)
        log.info("silence removed", silence_id=silence_id)

    def _send(self, topic: str, key: str, value: bytes | None) -> None:
        future = self.producer.send(topic, key=key.encode(), value=value)
        self.producer.flush(timeout=SEND_TIMEOUT_S)
        future.get(timeout=SEND_TIMEOUT_S)


def current_silences(
    consumer_factory: Callable[[], Any], topic: str, now: datetime
) -> list[Silence]:
    """Silences in force or still to come, read from the whole compacted topic the way the
    notifier reads it."""
    from sinks.notify.runner import SilenceFollower

    consumer = consumer_factory()
    try:
        follower = SilenceFollower(consumer, topic)
        follower.catch_up()
    finally:
        consumer.close()
    live = [s for s in follower.current() if s.ends_at > now]
    return sorted(live, key=lambda s: (s.starts_at, s.silence_id))
