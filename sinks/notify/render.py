"""Notification text in Indonesian (default) or English; times in the operation's zone (WITA)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo

from schemas.alert import AlertChange, AlertTier
from sinks.notify.policy import Notification

__all__ = ["Rendered", "format_time", "render"]

Lang = Literal["id", "en"]
MAX_EVIDENCE: Final = 10

_TIER: Final[dict[AlertTier, dict[Lang, str]]] = {
    AlertTier.WARNING: {"id": "WASPADA", "en": "WARNING"},
    AlertTier.CRITICAL: {"id": "KRITIS", "en": "CRITICAL"},
}
_CHANGE: Final[dict[AlertChange, dict[Lang, str]]] = {
    AlertChange.FIRED: {"id": "SIAGA", "en": "ALERT"},
    AlertChange.ESCALATED: {"id": "NAIK KE KRITIS", "en": "ESCALATED"},
    AlertChange.ACKNOWLEDGED: {"id": "DITANGANI", "en": "ACKNOWLEDGED"},
    AlertChange.RESOLVED: {"id": "SELESAI", "en": "RESOLVED"},
    AlertChange.UPDATE: {"id": "PEMBARUAN", "en": "UPDATE"},
}
_LABELS: Final[dict[str, dict[Lang, str]]] = {
    "area": {"id": "Wilayah", "en": "Area"},
    "time": {"id": "Waktu", "en": "Time"},
    "since": {"id": "Sejak", "en": "Since"},
    "late": {
        "id": "⚠ terlambat: dipicu laporan yang datang terlambat",
        "en": "⚠ late: raised from late-arriving reports",
    },
    "ack": {"id": "Ditangani oleh {who} pada {when}", "en": "Acknowledged by {who} at {when}"},
    "resolved": {"id": "Selesai pada {when}", "en": "Resolved at {when}"},
    "evidence": {"id": "Bukti (laporan)", "en": "Evidence (reports)"},
    "more": {"id": "dan {n} lainnya", "en": "and {n} more"},
    "children": {
        "id": "Peringatan wilayah di dalamnya (ditahan)",
        "en": "Alerts inside this area (held back)",
    },
    "rule": {"id": "Aturan", "en": "Rule"},
    "ref": {"id": "Ref", "en": "Ref"},
}
_MONTHS_ID: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "Mei",
    "Jun",
    "Jul",
    "Agu",
    "Sep",
    "Okt",
    "Nov",
    "Des",
)
_MONTHS_EN: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


@dataclass(frozen=True)
class Rendered:
    title: str
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """Plain text: title, blank line, body."""
        return "\n".join((self.title, "", *self.lines))

    @property
    def markdown(self) -> str:
        """Slack/Mattermost mrkdwn: bold title."""
        return "\n".join((f"*{self.title}*", *self.lines))


def format_time(at: datetime, zone: ZoneInfo, lang: Lang) -> str:
    """e.g. ``10 Feb 2024 17:00 WITA`` (zone abbreviation from the tz database)."""
    local = at.astimezone(zone)
    months = _MONTHS_ID if lang == "id" else _MONTHS_EN
    return f"{local.day} {months[local.month - 1]} {local.year} {local:%H:%M} {local:%Z}"


def render(notification: Notification, zone: ZoneInfo, lang: Lang = "id") -> Rendered:
    alert = notification.alert
    area = alert.area_name or alert.area_code
    head = f"[{_TIER[alert.tier][lang]}] {_CHANGE[alert.change][lang]}"
    title = f"{head}: {alert.rule_name} — {area}"
    message = alert.message_id if lang == "id" else alert.message_en
    lines = [message, ""]
    area_line = f"{_LABELS['area'][lang]}: {area} ({alert.area_code})"
    lines.append(area_line)
    lines.append(f"{_LABELS['time'][lang]}: {format_time(alert.updated_at, zone, lang)}")
    if alert.first_fired_at != alert.updated_at:
        lines.append(f"{_LABELS['since'][lang]}: {format_time(alert.first_fired_at, zone, lang)}")
    if alert.late:
        lines.append(_LABELS["late"][lang])
    if alert.acknowledged_by is not None and alert.acknowledged_at is not None:
        when = format_time(alert.acknowledged_at, zone, lang)
        lines.append(_LABELS["ack"][lang].format(who=alert.acknowledged_by, when=when))
    if alert.resolved_at is not None:
        lines.append(
            _LABELS["resolved"][lang].format(when=format_time(alert.resolved_at, zone, lang))
        )
    if alert.evidence_report_ids:
        shown = ", ".join(alert.evidence_report_ids[:MAX_EVIDENCE])
        rest = len(alert.evidence_report_ids) - MAX_EVIDENCE
        if rest > 0:
            shown += " " + _LABELS["more"][lang].format(n=rest)
        lines.append(f"{_LABELS['evidence'][lang]}: {shown}")
    if notification.children:
        lines.append(f"{_LABELS['children'][lang]}:")
        for child in notification.children:
            tier = _TIER[AlertTier(child.tier)][lang]
            lines.append(f"  • {child.area_name or child.area_code} ({child.area_code}) [{tier}]")
    lines.append(
        f"{_LABELS['rule'][lang]}: {alert.rule_id} · {_LABELS['ref'][lang]}: {alert.alert_id}"
    )
    return Rendered(title, tuple(lines))
