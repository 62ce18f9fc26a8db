"""Which notifications an alert record makes: pure decisions, no I/O.

Per record and route: one notification keyed ``notification_key(alert_id, state, tier,
channel)``. ``update`` records never notify; a channel hears only the changes in its
``notify_on``; a matching silence mutes; a firing/acknowledged provincial alert of the same
rule holds back (suppresses) the alerts of areas inside its province.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from schemas.alert import Alert, AlertChange, AlertState, Silence, notification_key

__all__ = [
    "ActiveAlert",
    "ActiveIndex",
    "ChannelPolicy",
    "Decision",
    "Notification",
    "Outcome",
    "backoff_delay",
    "is_province",
    "plan_notifications",
]


class Outcome(StrEnum):
    SEND = "send"
    SILENCED = "silenced"
    SUPPRESSED = "suppressed"
    UNKNOWN_CHANNEL = "unknown_channel"


@dataclass(frozen=True)
class ActiveAlert:
    """What the suppression index keeps of a firing or acknowledged alert."""

    alert_id: str
    rule_id: str
    area_code: str
    area_name: str | None
    state: AlertState
    tier: str


@dataclass(frozen=True)
class Notification:
    key: str
    alert: Alert
    channel: str
    recipients: tuple[str, ...]
    children: tuple[ActiveAlert, ...] = ()  # held-back alerts inside a provincial alert


@dataclass(frozen=True)
class Decision:
    notification: Notification
    outcome: Outcome
    silence_id: str | None = None
    suppressed_by: str | None = None


@dataclass(frozen=True)
class ChannelPolicy:
    """What the policy needs to know of a configured channel."""

    notify_on: frozenset[AlertChange]
    default_recipients: tuple[str, ...] = ()


def is_province(area_code: str) -> bool:
    return "." not in area_code


@dataclass
class ActiveIndex:
    """Firing and acknowledged alerts by id: the memory behind hierarchy suppression."""

    alerts: dict[str, ActiveAlert] = field(default_factory=dict)

    def apply(self, alert: Alert) -> None:
        if alert.state is AlertState.RESOLVED:
            self.alerts.pop(alert.alert_id, None)
            return
        self.alerts[alert.alert_id] = ActiveAlert(
            alert.alert_id,
            alert.rule_id,
            alert.area_code,
            alert.area_name,
            alert.state,
            alert.tier.value,
        )

    def parent_of(self, alert: Alert) -> ActiveAlert | None:
        """The active provincial alert of the same rule whose province contains ``alert``."""
        if is_province(alert.area_code):
            return None
        province = alert.area_code.split(".")[0]
        for active in self.alerts.values():
            if (
                active.rule_id == alert.rule_id
                and active.area_code == province
                and active.alert_id != alert.alert_id
            ):
                return active
        return None

    def children_of(self, alert: Alert) -> tuple[ActiveAlert, ...]:
        """Active alerts of the same rule inside a provincial ``alert`` (sorted by area)."""
        if not is_province(alert.area_code):
            return ()
        prefix = alert.area_code + "."
        return tuple(
            sorted(
                (
                    a
                    for a in self.alerts.values()
                    if a.rule_id == alert.rule_id and a.area_code.startswith(prefix)
                ),
                key=lambda a: (a.area_code, a.alert_id),
            )
        )


def plan_notifications(
    alert: Alert,
    channels: Mapping[str, ChannelPolicy],
    silences: Iterable[Silence],
    index: ActiveIndex,
    now: datetime,
) -> list[Decision]:
    """The decisions for one alert record, one per route that hears about its change.

    ``index`` must already include ``alert`` itself (see ``ActiveIndex.apply``). Dedupe
    against keys already handled is the caller's (``new_decisions``).
    """
    if alert.change is AlertChange.UPDATE:
        return []
    muting = next((s for s in silences if s.mutes(alert, now)), None)
    parent = index.parent_of(alert)
    children = index.children_of(alert)
    decisions: list[Decision] = []
    for route in alert.routes:
        key = notification_key(alert.alert_id, alert.state, alert.tier, route.channel)
        policy = channels.get(route.channel)
        if policy is None:
            notification = Notification(key, alert, route.channel, route.recipients)
            decisions.append(Decision(notification, Outcome.UNKNOWN_CHANNEL))
            continue
        if alert.change not in policy.notify_on:
            continue
        recipients = route.recipients or policy.default_recipients
        notification = Notification(key, alert, route.channel, recipients, children)
        if muting is not None:
            decisions.append(Decision(notification, Outcome.SILENCED, silence_id=muting.silence_id))
        elif parent is not None:
            decisions.append(
                Decision(notification, Outcome.SUPPRESSED, suppressed_by=parent.alert_id)
            )
        else:
            decisions.append(Decision(notification, Outcome.SEND))
    return decisions


def new_decisions(decisions: Iterable[Decision], seen: Callable[[str], bool]) -> list[Decision]:
    """Drop decisions whose key was already handled (or is being handled); first one wins."""
    result: list[Decision] = []
    keys: set[str] = set()
    for decision in decisions:
        key = decision.notification.key
        if key in keys or seen(key):
            continue
        keys.add(key)
        result.append(decision)
    return result


def backoff_delay(
    attempt: int,
    base_s: float,
    max_s: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): exponential, capped, with
    "equal jitter" (between half and all of the exponential step) so channels that failed
    together do not retry in lockstep."""
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    step = min(max_s, base_s * 2.0 ** (attempt - 1))
    return step / 2 + rand() * step / 2
