"""The end-to-end promises a fault must not break, as pure checks over what was read back.

Each check says whether it held and, if not, what broke in a line a person can act on
(the first few ids, never thousands).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

SHOWN: Final = 5  # ids named in a failed check's detail

# What an area's situation is, as a control room reads it. Times of sending (updated_at) and
# the wording of the reason are left out: they legitimately differ between two runs.
SITUATION_FIELDS: Final = (
    "level",
    "score",
    "open_incidents",
    "counts_by_category",
    "counts_by_severity",
    "last_report_at",
    "last_check_in_at",
)


@dataclass(frozen=True)
class Check:
    name: str
    held: bool
    detail: str = ""


def _some(items: Iterable[str]) -> str:
    ordered = sorted(items)
    more = f" (+{len(ordered) - SHOWN} more)" if len(ordered) > SHOWN else ""
    return ", ".join(ordered[:SHOWN]) + more


def _problems(*found: tuple[str, Collection[str]]) -> list[str]:
    """One line per non-empty group of ids: "<count> <what>: <the first few>"."""
    return [f"{len(ids)} {what}: {_some(ids)}" for what, ids in found if ids]


def reports_indexed_once(accepted: Collection[str], indexed_ids: Sequence[str]) -> Check:
    """Every report the intake acknowledged is in the reports index exactly once, and nothing
    else is."""
    counts = Counter(indexed_ids)
    wanted = set(accepted)
    missing = wanted - counts.keys()
    twice = {report_id for report_id, n in counts.items() if n > 1}
    unknown = counts.keys() - wanted
    problems = _problems(
        ("accepted but not indexed", missing),
        ("indexed more than once", twice),
        ("indexed but never accepted", unknown),
    )
    detail = "; ".join(problems) or f"{len(wanted)} accepted, each indexed once"
    return Check("reports indexed exactly once", not problems, detail)


def situation(status: Mapping[str, Any]) -> dict[str, Any]:
    """The comparable part of one status record (wire JSON)."""
    view = {name: status.get(name) for name in SITUATION_FIELDS}
    if isinstance(view["score"], int | float):
        view["score"] = round(float(view["score"]), 3)
    return view


def statuses_match(
    expected: Mapping[str, Mapping[str, Any]], actual: Mapping[str, Mapping[str, Any]]
) -> Check:
    """The latest status of every area equals that of the fault-free run."""
    missing = expected.keys() - actual.keys()
    extra = actual.keys() - expected.keys()
    differ = {
        code
        for code in expected.keys() & actual.keys()
        if situation(expected[code]) != situation(actual[code])
    }
    problems = _problems(("areas without a status", missing), ("areas only in this run", extra))
    if differ:
        code = min(differ)
        diff = {
            name: (situation(expected[code])[name], situation(actual[code])[name])
            for name in SITUATION_FIELDS
            if situation(expected[code])[name] != situation(actual[code])[name]
        }
        problems.append(f"{len(differ)} areas differ: {_some(differ)}; {code}: {diff}")
    detail = "; ".join(problems) or f"{len(expected)} areas as in the fault-free run"
    return Check("final statuses as without the fault", not problems, detail)


def delivered_once(expected: Collection[str], delivered: Sequence[str]) -> Check:
    """Each notification due (alert, state, tier, channel) reached its channel, under its
    Idempotency-Key, and nothing else did: ``delivered`` has one key per request a channel
    answered.

    A notifier killed after a channel answered but before it recorded the delivery sends it
    again after the restart, with the same key (at-least-once; docs/notify.md): a receiver
    that honours the key acts once, so such a repeat is counted, not a broken invariant. A
    notification never sent, or sent that was not due, is.
    """
    counts = Counter(delivered)
    missing = set(expected) - counts.keys()
    unknown = counts.keys() - set(expected)
    resent = sum(n - 1 for n in counts.values())
    problems = _problems(("never delivered", missing), ("delivered but not due", unknown))
    detail = "; ".join(problems) or (
        f"{len(expected)} notifications delivered once each"
        + (f" ({resent} sent again under the same Idempotency-Key)" if resent else "")
    )
    return Check("alerts delivered exactly once", not problems, detail)


def alerts_match(expected: Collection[str], actual: Collection[str]) -> Check:
    """The same alert changes (alert, state, tier) as the fault-free run (see
    ``run.alert_change_keys`` for which rules)."""
    missing, extra = set(expected) - set(actual), set(actual) - set(expected)
    problems = _problems(("missing", missing), ("extra", extra))
    detail = "; ".join(problems) or f"{len(set(expected))} alert changes as without the fault"
    return Check("alerts as without the fault", not problems, detail)


def dead_letters_match(invalid_sent: int, dead_letter_ids: Iterable[str]) -> Check:
    """One intake dead letter per invalid input sent (the same input twice has the same id)."""
    got = len(set(dead_letter_ids))
    detail = f"{invalid_sent} invalid inputs, {got} dead letters"
    return Check("dead letters match the invalid inputs", got == invalid_sent, detail)


def later_dead_letters_match(expected: Collection[str], actual: Collection[str]) -> Check:
    """What the pipeline itself set aside after the intake (reports too late for their
    window): the same reports for the same reasons as in the fault-free run."""
    missing, extra = set(expected) - set(actual), set(actual) - set(expected)
    problems = _problems(("missing", missing), ("extra", extra))
    detail = "; ".join(problems) or f"{len(set(expected))} as without the fault"
    return Check("later dead letters as without the fault", not problems, detail)
