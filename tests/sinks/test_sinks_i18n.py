"""Every label and message exists in Indonesian and English; the language is chosen predictably."""

from __future__ import annotations

import re

import pytest

from schemas.report import (
    Category,
    IncidentState,
    OperationPhase,
    ReporterRole,
    ReportKind,
    ReportSource,
)
from sinks.i18n import (
    CATEGORY_LABELS,
    KIND_LABELS,
    MESSAGES,
    PHASE_LABELS,
    ROLE_LABELS,
    SOURCE_LABELS,
    STATE_LABELS,
    message,
    pick_language,
)


@pytest.mark.parametrize(
    ("labels", "enum"),
    [
        (CATEGORY_LABELS, Category),
        (KIND_LABELS, ReportKind),
        (STATE_LABELS, IncidentState),
        (PHASE_LABELS, OperationPhase),
        (SOURCE_LABELS, ReportSource),
        (ROLE_LABELS, ReporterRole),
    ],
)
def test_every_enum_value_has_both_labels(labels: dict, enum: type) -> None:  # type: ignore[type-arg]
    assert set(labels) == set(enum)
    assert all(text["id"] and text["en"] for text in labels.values())


def test_messages_use_the_same_placeholders_in_both_languages() -> None:
    for code, texts in MESSAGES.items():
        fields = {lang: set(re.findall(r"\{(\w+)", text)) for lang, text in texts.items()}
        assert fields["id"] == fields["en"], code


def test_message_formatting_and_unknown_codes() -> None:
    assert message("query_too_long", "en", limit=500, position=1).endswith("500 characters).")
    assert message("no_such_code", "id") == "no_such_code"


@pytest.mark.parametrize(
    ("requested", "header", "expected"),
    [
        ("en", "id", "en"),
        ("ID", None, "id"),
        (None, "en-GB,en;q=0.9", "en"),
        (None, "fr-FR, en;q=0.5", "en"),
        (None, "fr-FR", "id"),
        ("xx", None, "id"),
    ],
)
def test_language_choice(requested: str | None, header: str | None, expected: str) -> None:
    assert pick_language(requested, header, "id") == expected
