"""The rule engine of one partition: reports, statuses, ticks and acks in, alert records out.

No Kafka, no Faust: the worker's adapter feeds it and publishes what it returns; ``sitrep rules
test`` and the tests feed it from files over a ``MemoryRuleStore``.

State lives in two tables (see ``streams.rules.state``): ``rule_groups`` (minute buckets and
evidence per rule and group, with the highest source offset applied, so records Kafka delivers
again after a crash change nothing) and ``rule_alerts`` (each group's alert and lifecycle).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Final, Protocol

import structlog

from schemas.alert import Alert, AlertAck, AlertTier
from schemas.registry import AreaLevel, AreaRegistry, level_of_code
from schemas.report import FieldReport
from schemas.status import AreaStatus
from sitrep.morphology import Stemmer
from streams.rules.evaluate import (
    CountRule,
    Measurement,
    measure_count,
    measure_flatline,
    measure_level,
    measure_spike,
    tier_bit,
)
from streams.rules.lifecycle import Context, acknowledge, advance
from streams.rules.matching import (
    ReportText,
    TermMatcher,
    filter_matches,
    group_code,
    in_scope,
    regency_of,
    report_in_scope,
)
from streams.rules.model import (
    FlatlineRule,
    FrequencyRule,
    KeywordRule,
    LevelRule,
    ProximityRule,
    ReportRule,
    RuleSet,
    SpikeRule,
)
from streams.rules.sites import Site, SiteSet, haversine_m
from streams.rules.state import AlertSlot, DecodedGroups, Evidence, GroupState, store_key
from streams.timebase import at_minute, minute_of

__all__ = ["MemoryRuleStore", "RuleEngine", "RuleStore", "RuleTable", "retention_minutes"]

log = structlog.get_logger("streams.rules")

_GROUP_LEVELS: Final = {
    "province": AreaLevel.PROVINCE,
    "regency": AreaLevel.REGENCY,
    "kecamatan": AreaLevel.DISTRICT,
    "village": AreaLevel.VILLAGE,
}


class RuleTable(StrEnum):
    GROUPS = "rule_groups"  # per (rule, group): minute buckets, evidence ids, applied offset
    ALERTS = "rule_alerts"  # per (rule, group): current alert + lifecycle bookkeeping


class RuleStore(Protocol):
    """Key/value access to one partition's rule tables (the adapter sets the partition)."""

    def get(self, table: RuleTable, key: str) -> bytes | None: ...

    def put(self, table: RuleTable, key: str, value: bytes) -> None: ...

    def delete(self, table: RuleTable, key: str) -> None: ...

    def scan(self, table: RuleTable) -> Iterable[tuple[str, bytes]]: ...


class MemoryRuleStore:
    """A RuleStore over plain dicts: for tests and ``sitrep rules test``."""

    def __init__(self) -> None:
        self.tables: dict[RuleTable, dict[str, bytes]] = {table: {} for table in RuleTable}

    def get(self, table: RuleTable, key: str) -> bytes | None:
        return self.tables[table].get(key)

    def put(self, table: RuleTable, key: str, value: bytes) -> None:
        self.tables[table][key] = value

    def delete(self, table: RuleTable, key: str) -> None:
        self.tables[table].pop(key, None)

    def scan(self, table: RuleTable) -> Iterable[tuple[str, bytes]]:
        return list(self.tables[table].items())


# The last minute judged by ``tick_through`` (not a rule group: no "|" in it, on_tick skips it).
TICKED_KEY: Final = "~ticked-through"


def retention_minutes(rule: ReportRule) -> int:
    """How far back a group's buckets are kept: two windows for counting rules (so a report
    up to one window late is evaluated exactly), the longest window otherwise."""
    if isinstance(rule, FrequencyRule | KeywordRule | ProximityRule):
        return 2 * rule.longest_window
    return rule.longest_window


@dataclass(frozen=True)
class _Hit:
    """One report counting for one group of a rule."""

    group_key: str
    area_code: str
    tiers: int  # bit mask
    value: float | None = None
    label: str = ""


REPLAY_HORIZON: Final = timedelta(hours=24)


def status_time(status: AreaStatus) -> datetime:
    """The time a status record speaks for: when it was sent, except in a replay of old data,
    whose statuses are sent long after their events; then the newest event time it carries
    (so level alerts of a replay are dated like the reports that caused them)."""
    events = [
        moment
        for moment in (status.level_changed_at, status.last_report_at, status.last_check_in_at)
        if moment is not None
    ]
    newest = max(events)
    return newest if status.updated_at - newest > REPLAY_HORIZON else status.updated_at


@dataclass
class _BatchCache:
    """Decoded group states and alert slots of one report batch, each written back once at
    its end (decoding and storing them per report was most of the engine's cost)."""

    groups: dict[str, GroupState] = field(default_factory=dict)
    dirty_groups: set[str] = field(default_factory=set)
    slots: dict[str, tuple[AlertSlot, bytes | None]] = field(default_factory=dict)

    def write_back(self, store: RuleStore, decoded: DecodedGroups) -> None:
        """Store what changed; the batch is over, so its group states can be remembered."""
        for key in sorted(self.dirty_groups):
            encoded = self.groups[key].encode()
            store.put(RuleTable.GROUPS, key, encoded)
            decoded.remember(key, encoded, self.groups[key])
        for key, (slot, raw) in sorted(self.slots.items()):
            encoded = slot.encode()
            if encoded != raw:
                store.put(RuleTable.ALERTS, key, encoded)


class RuleEngine:
    def __init__(
        self,
        rules: RuleSet,
        registry: AreaRegistry,
        sites: SiteSet,
        zone: tzinfo,
        stemmer: Stemmer | None = None,
    ) -> None:
        self.rules = rules
        self.registry = registry
        self.sites = sites
        self.zone = zone
        enabled = rules.enabled()
        self._level_rules = [r for r in enabled if isinstance(r, LevelRule)]
        self._report_rules: list[ReportRule] = [r for r in enabled if not isinstance(r, LevelRule)]
        needs_text = any(r.filter.terms or isinstance(r, KeywordRule) for r in enabled)
        self._stemmer = stemmer
        if needs_text and stemmer is None:
            from sitrep.morphology import default_stemmer

            self._stemmer = default_stemmer()
        self._filter_terms = {
            r.id: TermMatcher.of(r.filter.terms, self._stemmer) for r in enabled if r.filter.terms
        }
        self._tier_terms = {
            (r.id, tier): TermMatcher.of(r.tier_terms(spec), self._stemmer)
            for r in enabled
            if isinstance(r, KeywordRule)
            for tier, spec in r.tiers.items()
        }
        self._decoded = DecodedGroups()
        # Looked up for every report and rule: worked out once.
        self._retention = {r.id: retention_minutes(r) for r in self._report_rules}
        self._text_rules = {
            r.id for r in self._report_rules if r.filter.terms or isinstance(r, KeywordRule)
        }

    # --- reports -------------------------------------------------------------------------------

    def on_reports(
        self,
        reports: Sequence[tuple[int, FieldReport]],
        store: RuleStore,
        now: datetime | None,
        expected_areas: Sequence[str] = (),
    ) -> list[Alert]:
        """Reports of one partition in offset order; ``now`` is the partition's stream time
        before the first of them (None: no clock yet).

        Stream time moves on report by report, as if they had come one at a time: a report
        is never judged by the time of a later one that happened to arrive in the same batch.
        """
        alerts: list[Alert] = []
        cache = _BatchCache()
        at = now
        ticked_until: int | None = None  # minutes before it are judged (read once per batch)
        for offset, report in reports:
            text: ReportText | None = None
            at = report.occurred_at if at is None else max(at, report.occurred_at)
            minute = minute_of(at)
            report_minute = minute_of(report.occurred_at)
            if minute != ticked_until and self._tick_due(store, minute):
                # The minutes this report moves past are judged first, with what came before.
                cache.write_back(store, self._decoded)
                cache = _BatchCache()
                alerts += self.tick_through(store, minute, expected_areas)
            ticked_until = minute
            for rule in self._report_rules:
                if not report_in_scope(rule.scope, report):
                    continue
                if text is None and rule.id in self._text_rules:
                    text = ReportText.of(report.text, self._stemmer)
                if not filter_matches(
                    rule.filter, report, text or _NO_TEXT, self._filter_terms.get(rule.id)
                ):
                    continue
                for hit in self._hits(rule, report, text or _NO_TEXT):
                    alert = self._apply(
                        rule, hit, offset, report, report_minute, store, at, minute, cache
                    )
                    if alert is not None:
                        alerts.append(alert)
        cache.write_back(store, self._decoded)
        return alerts

    def _hits(self, rule: ReportRule, report: FieldReport, text: ReportText) -> list[_Hit]:
        code = group_code(rule.scope.group_by, report)
        if code is None:
            return []
        if isinstance(rule, KeywordRule):
            mask, found = 0, list[str]()
            for tier, spec in rule.tiers.items():
                terms = self._tier_terms[(rule.id, tier)].found(text)
                if terms and report.severity >= spec.severity_min:
                    mask |= tier_bit(tier)
                    found.extend(t for t in terms if t not in found)
            return [_Hit(code, code, mask, None, ", ".join(found))] if mask else []
        if isinstance(rule, ProximityRule):
            return self._proximity_hits(rule, report, code)
        return [_Hit(code, code, tier_bit(AlertTier.WARNING) | tier_bit(AlertTier.CRITICAL))]

    def _proximity_hits(self, rule: ProximityRule, report: FieldReport, code: str) -> list[_Hit]:
        if report.location is None:
            return []
        hits = []
        for site in self.sites.of_kinds(rule.params.site_kinds):
            distance = haversine_m(report.location.lat, report.location.lon, site.lat, site.lon)
            mask = 0
            for tier, spec in rule.tiers.items():
                if distance <= _radius(rule, site, spec.radius_m):
                    mask |= tier_bit(tier)
            if mask:
                hits.append(_Hit(f"{code}/{site.id}", code, mask, round(distance, 1), site.id))
        return hits

    def _apply(
        self,
        rule: ReportRule,
        hit: _Hit,
        offset: int,
        report: FieldReport,
        minute: int,
        store: RuleStore,
        at: datetime,
        now_minute: int,
        cache: _BatchCache,
    ) -> Alert | None:
        """``minute``: the report's occurred_at minute; ``now_minute``: ``at``'s."""
        key = store_key(rule.id, hit.group_key)
        state = cache.groups.get(key)
        if state is None:
            state = cache.groups[key] = self._group(store, key, hit.area_code, now_minute)
        if offset <= state.applied:
            return None  # applied before a restart
        state.applied = offset
        cache.dirty_groups.add(key)
        if minute <= now_minute - self._retention[rule.id]:
            log.info("rule_report_too_late", rule=rule.id, report_id=report.report_id)
            return None
        state.add(Evidence(minute, report.report_id, hit.tiers, hit.value, hit.label))
        if isinstance(rule, FlatlineRule):
            return None  # silence is judged on ticks
        if isinstance(rule, SpikeRule):
            if rule.params.direction == "down":
                return None
            measurement = measure_spike(rule, state, now_minute)
            if measurement.tier is None:
                return None
        else:
            measurement = measure_count(rule, state, now_minute, containing=minute)
            if measurement.tier is None:
                return None
        measurement = self._with_site(rule, hit.group_key, measurement)
        return self._advance(rule, hit.group_key, state.area_code, at, measurement, store, cache)

    def _group(self, store: RuleStore, key: str, area_code: str, now_minute: int) -> GroupState:
        raw = store.get(RuleTable.GROUPS, key)
        if raw is None:
            return GroupState(area_code, now_minute)
        return self._decoded.decode(key, raw)

    def _with_site(self, rule: ReportRule, group_key: str, m: Measurement) -> Measurement:
        if not isinstance(rule, ProximityRule) or m.tier is None:
            return m
        site = self.sites.get(group_key.rpartition("/")[2])
        if site is None:
            return m
        spec = rule.tiers.get(m.tier)
        radius = _radius(rule, site, spec.radius_m if spec else None)
        distance = "-" if m.value is None else str(round(m.value))
        kind = site.kind.value.replace("_", " ")
        extras = {
            "site_name": (site.name, site.name),
            "site_kind": (kind, kind),
            "distance_m": (distance, distance),
            "radius_m": (str(round(radius)), str(round(radius))),
        }
        return Measurement(**{**m.__dict__, "threshold": radius, "extras": extras})

    def _advance(
        self,
        rule: LevelRule | ReportRule,
        group_key: str,
        area_code: str,
        at: datetime,
        measurement: Measurement,
        store: RuleStore,
        cache: _BatchCache | None = None,
    ) -> Alert | None:
        key = store_key(rule.id, group_key)
        if cache is not None and key in cache.slots:
            slot, raw = cache.slots[key]
        else:
            raw = store.get(RuleTable.ALERTS, key)
            if raw is None and measurement.tier is None:
                return None
            slot = AlertSlot.decode(raw) if raw is not None else AlertSlot()
        ctx = Context(rule, group_key, area_code, at, minute_of(at), self.registry, self.zone)
        slot, alert = advance(ctx, slot, measurement)
        if cache is not None:
            cache.slots[key] = (slot, raw)
            return alert
        encoded = slot.encode()
        if encoded != raw:
            store.put(RuleTable.ALERTS, key, encoded)
        return alert

    # --- time ------------------------------------------------------------------------------

    def _ticked_through(self, store: RuleStore, until_minute: int) -> int | None:
        """The last minute judged, or None to start afresh: never, or on another time base
        (a timer that ran on the wall clock before the first report of a replay came)."""
        raw = store.get(RuleTable.GROUPS, TICKED_KEY)
        last = int(raw) if raw is not None else None
        return None if last is None or last >= until_minute else last

    def _tick_due(self, store: RuleStore, until_minute: int) -> bool:
        last = self._ticked_through(store, until_minute)
        return last is None or last < until_minute - 1

    def tick_through(
        self, store: RuleStore, until_minute: int, expected_areas: Sequence[str]
    ) -> list[Alert]:
        """Judge every whole minute before ``until_minute`` not judged yet, one at a time and
        in order (the first time only the minute just before).

        Each minute is judged once, with every report of it applied, however the stream was
        cut into batches and however fast it was replayed: the same input gives the same
        alerts (a tick "whenever the timer fired" would see a replay at a different time).
        """
        last = self._ticked_through(store, until_minute)
        start = until_minute - 1 if last is None else last + 1
        alerts: list[Alert] = []
        for minute in range(start, until_minute):
            alerts += self.on_tick(store, at_minute(minute), expected_areas)
        if start < until_minute:
            store.put(RuleTable.GROUPS, TICKED_KEY, str(until_minute - 1).encode())
        return alerts

    def on_tick(
        self, store: RuleStore, now: datetime, expected_areas: Sequence[str]
    ) -> list[Alert]:
        """Time-driven evaluation of this partition's groups (those in ``expected_areas``'
        regencies): flatline incl. never-seen expected areas, spikes, auto-resolve, expiry."""
        now_minute = minute_of(now)
        regencies = {regency_of(code) for code in expected_areas}
        self._watch_expected(store, now_minute, expected_areas)
        alerts: list[Alert] = []
        by_id = {rule.id: rule for rule in self._report_rules}
        for key, raw in sorted(store.scan(RuleTable.GROUPS)):
            rule_id, _, group_key = key.partition("|")
            rule = by_id.get(rule_id)
            if rule is None:
                continue
            state = self._decoded.decode(key, raw)
            if regency_of(state.area_code) not in regencies:
                continue  # another partition's group
            measurement = self._measure_now(rule, group_key, state, now_minute)
            alert = self._advance(rule, group_key, state.area_code, now, measurement, store)
            if alert is not None:
                alerts.append(alert)
            self._expire(rule, key, state, now_minute, expected_areas, store)
        return alerts

    def _measure_now(
        self, rule: ReportRule, group_key: str, state: GroupState, now: int
    ) -> Measurement:
        if isinstance(rule, FlatlineRule):
            return measure_flatline(rule, state, now)
        if isinstance(rule, SpikeRule):
            return measure_spike(rule, state, now)
        count_rule: CountRule = rule
        return self._with_site(rule, group_key, measure_count(count_rule, state, now))

    def _watch_expected(
        self, store: RuleStore, now_minute: int, expected_areas: Sequence[str]
    ) -> None:
        """Flatline groups for expected areas that never reported, watched from now on."""
        for rule in self._report_rules:
            if not isinstance(rule, FlatlineRule):
                continue
            level = _GROUP_LEVELS[rule.scope.group_by]
            for code in expected_areas:
                if level_of_code(code) is not level or not in_scope(rule.scope, code):
                    continue
                key = store_key(rule.id, code)
                if store.get(RuleTable.GROUPS, key) is None:
                    store.put(RuleTable.GROUPS, key, GroupState(code, now_minute).encode())

    def _expire(
        self,
        rule: ReportRule,
        key: str,
        state: GroupState,
        now_minute: int,
        expected_areas: Sequence[str],
        store: RuleStore,
    ) -> None:
        raw = store.get(RuleTable.GROUPS, key)
        if raw is not None:
            state = self._decoded.decode(key, raw)
        before = (len(state.buckets), len(state.evidence))
        state.prune(now_minute - self._retention[rule.id] + 1)
        slot_raw = store.get(RuleTable.ALERTS, key)
        slot = AlertSlot.decode(slot_raw) if slot_raw is not None else None
        slot_done = slot is None or (
            not slot.active
            and (slot.resolved_minute is None or now_minute >= _forget_after(rule, slot))
        )
        expected = isinstance(rule, FlatlineRule) and state.area_code in expected_areas
        if not state.buckets and slot_done and not expected:
            store.delete(RuleTable.GROUPS, key)
            store.delete(RuleTable.ALERTS, key)
            self._decoded.forget(key)
            return
        if slot is not None and slot_done:
            store.delete(RuleTable.ALERTS, key)
        if (len(state.buckets), len(state.evidence)) != before:
            encoded = state.encode()
            store.put(RuleTable.GROUPS, key, encoded)
            self._decoded.remember(key, encoded, state)

    # --- statuses ------------------------------------------------------------------------------

    def on_status(self, offset: int, status: AreaStatus, store: RuleStore) -> list[Alert]:
        """Level rules over one status record, at ``status_time(status)``."""
        alerts: list[Alert] = []
        at = status_time(status)
        level = level_of_code(status.area_code)
        for rule in self._level_rules:
            if level is not _GROUP_LEVELS[rule.scope.group_by]:
                continue
            if not in_scope(rule.scope, status.area_code):
                continue
            key = store_key(rule.id, status.area_code)
            state = self._group(store, key, status.area_code, minute_of(at))
            if offset <= state.applied:
                continue
            state.applied = offset
            encoded = state.encode()
            store.put(RuleTable.GROUPS, key, encoded)
            self._decoded.remember(key, encoded, state)
            raw = store.get(RuleTable.ALERTS, key)
            firing = raw is not None and AlertSlot.decode(raw).active
            measurement = measure_level(rule, status, minute_of(at), firing)
            alert = self._advance(rule, status.area_code, status.area_code, at, measurement, store)
            if alert is not None:
                alerts.append(alert)
        return alerts

    # --- after a restart --------------------------------------------------------------------

    def latest_alerts(self, store: RuleStore) -> list[Alert]:
        """The last record of every alert the store holds, oldest first.

        Republished when a worker takes over a partition: the state and the alert record are
        written separately, so a crash between the two could otherwise lose the record for
        good (the replayed batch is skipped as already applied). Consumers are idempotent.
        """
        alerts = [
            slot.alert
            for slot in (AlertSlot.decode(raw) for _, raw in store.scan(RuleTable.ALERTS))
            if slot.alert is not None
        ]
        return sorted(alerts, key=lambda alert: (alert.updated_at, alert.alert_id))

    # --- acknowledgements ------------------------------------------------------------------

    def on_ack(self, ack: AlertAck, store: RuleStore) -> list[Alert]:
        """firing -> acknowledged; an unknown, already acknowledged or resolved alert: []."""
        for key, raw in store.scan(RuleTable.ALERTS):
            slot = AlertSlot.decode(raw)
            if slot.alert is None or slot.alert.alert_id != ack.alert_id:
                continue
            slot, alert = acknowledge(slot, ack)
            if alert is None:
                state = slot.alert.state if slot.alert else None
                log.info("rule_ack_ignored", alert_id=ack.alert_id, state=state)
                return []
            store.put(RuleTable.ALERTS, key, slot.encode())
            return [alert]
        log.info("rule_ack_unknown_alert", alert_id=ack.alert_id)
        return []


_NO_TEXT: Final = ReportText((), ())


def _radius(rule: ProximityRule, site: Site, tier_radius: float | None) -> float:
    if tier_radius is not None:
        return tier_radius
    return site.radius_m if site.radius_m is not None else rule.params.radius_m


def _forget_after(rule: ReportRule, slot: AlertSlot) -> int:
    assert slot.resolved_minute is not None
    return slot.resolved_minute + max(rule.realert, rule.flapping.period)
