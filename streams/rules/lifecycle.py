"""An alert's lifecycle for one (rule, group): fire, escalate, update, acknowledge, resolve.

Pure: takes the slot (latest alert + bookkeeping) and a measurement, returns the new slot and
the alert record to publish, if any.

* fire: a tier's condition holds and no alert is active. Not within ``realert`` after the
  last resolve (the condition is re-checked later, so it fires once the period is over).
* escalated: warning -> critical within the same episode (same alert id).
* update: the evidence set changed; nothing to notify.
* resolved: the condition stayed clear for ``resolve_after``; a flapping alert (``flapping.
  max_transitions`` fire/resolve transitions within ``flapping.period``) needs the whole
  period of calm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Final

from schemas.alert import (
    Alert,
    AlertAck,
    AlertChange,
    AlertRoute,
    AlertState,
    AlertTier,
    make_alert_id,
)
from schemas.registry import AreaRegistry
from streams.rules.evaluate import Measurement
from streams.rules.messages import MessageFacts, render_messages
from streams.rules.model import Rule
from streams.rules.state import EVIDENCE_CAP, AlertSlot
from streams.timebase import at_minute

__all__ = ["Context", "acknowledge", "advance"]

ONE_MS: Final = timedelta(milliseconds=1)
_RANK: Final = {AlertTier.WARNING: 0, AlertTier.CRITICAL: 1}


@dataclass(frozen=True)
class Context:
    """Where and when: the rule, the group, its area, the event time and local zone."""

    rule: Rule
    group_key: str
    area_code: str
    now: datetime
    now_minute: int
    registry: AreaRegistry
    zone: tzinfo


def _episode_text(minute: int) -> str:
    return at_minute(minute).strftime("%Y-%m-%dT%H:%MZ")


def _next_time(previous: Alert | None, now: datetime) -> datetime:
    if previous is None:
        return now
    return max(previous.updated_at + ONE_MS, now)


def _area_name(registry: AreaRegistry, code: str) -> str:
    area = registry.get(code)
    return area.name if area is not None else code


def _merge_evidence(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...]:
    merged = list(old)
    for report_id in new:
        if report_id not in merged:
            merged.append(report_id)
    return tuple(merged[-EVIDENCE_CAP:])


def _messages(ctx: Context, tier: AlertTier, m: Measurement, at: datetime) -> tuple[str, str]:
    facts = MessageFacts(
        rule_name=ctx.rule.name,
        area_name=_area_name(ctx.registry, ctx.area_code),
        area_code=ctx.area_code,
        tier=tier,
        value=m.value,
        threshold=m.threshold,
        count=m.count,
        window_minutes=m.window_minutes,
        window_start=m.window_start,
        window_end=m.window_end,
        at=at,
        late=m.late,
        extras=m.extras,
    )
    return render_messages(ctx.rule.messages, facts, ctx.zone)


def _routes(ctx: Context, tier: AlertTier) -> tuple[AlertRoute, ...]:
    spec = ctx.rule.tiers.get(tier)
    return tuple(spec.routes) if spec is not None else ()


def _window_time(minute: int | None, end: bool = False) -> datetime | None:
    if minute is None:
        return None
    return at_minute(minute + 1 if end else minute)


def _fire(ctx: Context, slot: AlertSlot, m: Measurement) -> tuple[AlertSlot, Alert]:
    assert m.tier is not None
    episode = m.episode if m.episode is not None else ctx.now_minute
    if slot.episode is not None and episode <= slot.episode:
        episode = max(ctx.now_minute, slot.episode + 1)  # never reuse a resolved episode's id
    message_id, message_en = _messages(ctx, m.tier, m, ctx.now)
    alert = Alert(
        alert_id=make_alert_id(ctx.rule.id, ctx.group_key, _episode_text(episode)),
        rule_id=ctx.rule.id,
        rule_name=ctx.rule.name,
        rule_type=ctx.rule.type,
        state=AlertState.FIRING,
        tier=m.tier,
        area_code=ctx.area_code,
        group_key=ctx.group_key,
        first_fired_at=ctx.now,
        updated_at=ctx.now,
        late=m.late,
        message_id=message_id,
        message_en=message_en,
        evidence_report_ids=m.evidence[-EVIDENCE_CAP:],
        change=AlertChange.FIRED,
        area_name=_area_name(ctx.registry, ctx.area_code),
        value=m.value,
        threshold=m.threshold,
        window_start=_window_time(m.window_start),
        window_end=_window_time(m.window_end, end=True),
        routes=_routes(ctx, m.tier),
    )
    transitions = [*_recent(ctx, slot.transitions), ctx.now_minute]
    return AlertSlot(alert, episode, None, slot.resolved_minute, transitions), alert


def _recent(ctx: Context, transitions: list[int]) -> list[int]:
    period = ctx.rule.flapping.period
    return [t for t in transitions if t > ctx.now_minute - period]


def _continue(ctx: Context, slot: AlertSlot, m: Measurement) -> tuple[AlertSlot, Alert | None]:
    alert = slot.alert
    assert alert is not None and m.tier is not None
    slot.clear_since = None
    evidence = _merge_evidence(alert.evidence_report_ids, m.evidence)
    at = _next_time(alert, ctx.now)
    if _RANK[m.tier] > _RANK[alert.tier]:
        message_id, message_en = _messages(ctx, m.tier, m, at)
        escalated = alert.model_copy(
            update={
                "tier": m.tier,
                "state": AlertState.FIRING,
                "change": AlertChange.ESCALATED,
                "updated_at": at,
                "evidence_report_ids": evidence,
                "value": m.value,
                "threshold": m.threshold,
                "routes": _routes(ctx, m.tier),
                "message_id": message_id,
                "message_en": message_en,
                "acknowledged_by": None,
                "acknowledged_at": None,
                "late": alert.late or m.late,
            }
        )
        slot.alert = Alert.model_validate(escalated.model_dump())
        return slot, slot.alert
    if set(evidence) == set(alert.evidence_report_ids):
        return slot, None
    tier = alert.tier
    message_id, message_en = _messages(ctx, tier, m, at)
    updated = alert.model_copy(
        update={
            "change": AlertChange.UPDATE,
            "updated_at": at,
            "evidence_report_ids": evidence,
            "value": m.value if m.tier is tier else alert.value,
            "message_id": message_id if m.tier is tier else alert.message_id,
            "message_en": message_en if m.tier is tier else alert.message_en,
            "window_end": max(
                filter(None, (alert.window_end, _window_time(m.window_end, end=True)))
            ),
        }
    )
    slot.alert = updated
    return slot, updated


def _clear(ctx: Context, slot: AlertSlot) -> tuple[AlertSlot, Alert | None]:
    alert = slot.alert
    assert alert is not None
    if slot.clear_since is None:
        slot.clear_since = ctx.now_minute
    rule = ctx.rule
    calm = rule.resolve_after
    if len(_recent(ctx, slot.transitions)) >= rule.flapping.max_transitions:
        calm = max(calm, rule.flapping.period)
    if ctx.now_minute - slot.clear_since < calm:
        return slot, None
    at = _next_time(alert, ctx.now)
    resolved = alert.model_copy(
        update={
            "state": AlertState.RESOLVED,
            "change": AlertChange.RESOLVED,
            "updated_at": at,
            "resolved_at": at,
        }
    )
    slot.alert = resolved
    slot.clear_since = None
    slot.resolved_minute = ctx.now_minute
    slot.transitions = [*_recent(ctx, slot.transitions), ctx.now_minute]
    return slot, resolved


def advance(ctx: Context, slot: AlertSlot, m: Measurement) -> tuple[AlertSlot, Alert | None]:
    """Apply one measurement of the rule's condition to the group's alert."""
    if m.tier is None:
        return _clear(ctx, slot) if slot.active else (slot, None)
    if slot.active:
        return _continue(ctx, slot, m)
    if (
        slot.resolved_minute is not None
        and ctx.now_minute < slot.resolved_minute + ctx.rule.realert
    ):
        return slot, None  # realert throttling: the condition is looked at again later
    return _fire(ctx, slot, m)


def acknowledge(slot: AlertSlot, ack: AlertAck) -> tuple[AlertSlot, Alert | None]:
    """firing -> acknowledged; anything else is ignored (None)."""
    alert = slot.alert
    if alert is None or alert.state is not AlertState.FIRING:
        return slot, None
    at = _next_time(alert, ack.acknowledged_at)
    acknowledged = alert.model_copy(
        update={
            "state": AlertState.ACKNOWLEDGED,
            "change": AlertChange.ACKNOWLEDGED,
            "updated_at": at,
            "acknowledged_by": ack.acknowledged_by,
            "acknowledged_at": ack.acknowledged_at,
        }
    )
    slot.alert = acknowledged
    return slot, acknowledged
