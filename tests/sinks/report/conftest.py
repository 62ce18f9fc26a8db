"""Builders shared by the daily report tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.alert import Alert, AlertState, AlertTier, make_alert_id


def balikpapan_alert(rule: str, fired: datetime, **lifecycle: Any) -> Alert:
    """A critical frequency alert in Kota Balikpapan; its state follows from ``lifecycle``
    (acknowledged_by/at, resolved_at), and it was last updated at its last step."""
    if "resolved_at" in lifecycle:
        state = AlertState.RESOLVED
    elif "acknowledged_at" in lifecycle:
        state = AlertState.ACKNOWLEDGED
    else:
        state = AlertState.FIRING
    steps = [fired, lifecycle.get("acknowledged_at"), lifecycle.get("resolved_at")]
    return Alert(
        alert_id=make_alert_id(rule, "64.71", fired.isoformat()),
        rule_id=rule,
        rule_name=rule.replace("-", " ").title(),
        rule_type="frequency",
        state=state,
        tier=AlertTier.CRITICAL,
        area_code="64.71",
        area_name="Kota Balikpapan",
        group_key="64.71",
        first_fired_at=fired,
        updated_at=max(step for step in steps if step is not None),
        message_id="3 laporan bentrokan dalam 1 jam",
        message_en="3 clash reports within 1 hour",
        **lifecycle,
    )
