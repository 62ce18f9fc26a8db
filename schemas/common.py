"""Building blocks shared by the wire models: field types, version checks, error reports."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, TypedDict

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError, core_schema

__all__ = [
    "WIRE_MODEL_CONFIG",
    "Identifier",
    "Matches",
    "SchemaPattern",
    "Timestamp",
    "ValidationProblem",
    "field_error",
    "field_errors",
    "is_identifier",
    "reject_newer_schema_version",
    "validation_problems",
]

# Frozen so a validated record cannot drift from what was on the wire; extra fields are
# rejected so a typo in a producer shows up as an error instead of silently lost data.
WIRE_MODEL_CONFIG: Final = ConfigDict(frozen=True, extra="forbid")

TIMESTAMP_EXAMPLE: Final = "2024-02-14T09:30:00+08:00"


def _timestamp_with_offset(value: Any, handler: ValidatorFunctionWrapHandler) -> datetime:
    # pydantic would also take unix numbers and naive times; the contract is RFC 3339 + offset.
    if not isinstance(value, str | datetime):
        raise PydanticCustomError(
            "timestamp_type",
            "must be an RFC 3339 timestamp string with a UTC offset, e.g. {example}",
            {"example": TIMESTAMP_EXAMPLE},
        )
    try:
        result: datetime = handler(value)
    except ValidationError as exc:
        if any(error["type"] == "timezone_aware" for error in exc.errors()):
            raise PydanticCustomError(
                "timezone_required",
                "timestamp has no UTC offset; send RFC 3339 with an offset, e.g. {example}",
                {"example": TIMESTAMP_EXAMPLE},
            ) from None
        raise
    return result


Timestamp = Annotated[
    AwareDatetime,
    WrapValidator(_timestamp_with_offset),
    Field(description="RFC 3339 timestamp with UTC offset", examples=[TIMESTAMP_EXAMPLE]),
]
"""Timezone-aware datetime; the offset sent is kept (not converted to UTC)."""


@dataclass(frozen=True)
class SchemaPattern:
    """Annotation that shows a regex in the JSON Schema without enforcing it.

    For fields whose shape a validator checks with a more specific message.
    """

    pattern: str

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


@dataclass(frozen=True)
class Matches(SchemaPattern):
    """Regex check with a readable message (pydantic's own just repeats the raw pattern)."""

    message: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        compiled = re.compile(self.pattern)
        message = self.message

        def check(value: str) -> str:
            if not compiled.search(value):
                # Message passed as context so braces in it are never read as placeholders.
                raise PydanticCustomError(
                    "string_pattern_mismatch", "{message}", {"message": message}
                )
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))


IDENTIFIER_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"

MAX_IDENTIFIER_LENGTH: Final = 128
_IDENTIFIER_RE: Final = re.compile(IDENTIFIER_PATTERN)


def is_identifier(value: object) -> bool:
    """Whether ``value`` would pass as an Identifier."""
    return (
        isinstance(value, str)
        and len(value) <= MAX_IDENTIFIER_LENGTH
        and _IDENTIFIER_RE.match(value) is not None
    )


# Used as an Elasticsearch _id and a Kafka key: no slashes, spaces or a leading dot, which
# would break _doc URLs or collide with "." / "..".
Identifier = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_IDENTIFIER_LENGTH,
        description="1-128 chars from [A-Za-z0-9._:-], starting with a letter or digit",
    ),
    Matches(
        IDENTIFIER_PATTERN,
        "may only contain letters, digits and . _ : - and must start with a letter or digit",
    ),
]


def field_error(
    title: str, path: tuple[str | int, ...], error_type: str, message: str, value: Any
) -> ValidationError:
    """A ValidationError for one field, for checks that run in model-level validators.

    pydantic keeps the path of a ValidationError raised inside a validator, so cross-field
    rules still report which field is wrong.
    """
    return field_errors(title, [(path, error_type, message, value)])


FieldProblem = tuple[tuple[str | int, ...], str, str, Any]
"""(path, error type, message, offending value)"""


def field_errors(title: str, problems: list[FieldProblem]) -> ValidationError:
    """Like field_error, for several fields at once."""
    details = [
        # The message goes in as context so braces in it are never read as placeholders.
        InitErrorDetails(
            type=PydanticCustomError(error_type, "{message}", {"message": message}),
            loc=path,
            input=value,
        )
        for path, error_type, message, value in problems
    ]
    return ValidationError.from_exception_data(title, details)


def reject_newer_schema_version(data: Any, current: int, title: str) -> None:
    """Fail early, with one clear error, on a record from a newer producer.

    Its other "errors" (new fields, changed enums) would only be noise, so they are skipped.
    """
    if not isinstance(data, Mapping):
        return
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > current:
        message = (
            f"schema_version {version} is newer than this code understands (up to {current}); "
            "upgrade the consumer"
        )
        raise field_error(
            title, ("schema_version",), "schema_version_unsupported", message, version
        )


class ValidationProblem(TypedDict):
    """One validation error, as shown in HTTP 422 bodies and dead-letter records.

    ``path`` is dotted ("reporter.role", "evidence_report_ids.0"); "" means the document as a
    whole (e.g. invalid JSON).
    """

    path: str
    message: str
    type: str


def format_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def validation_problems(error: ValidationError) -> list[ValidationProblem]:
    """Flatten a pydantic ValidationError into JSON-ready {path, message, type} dicts."""
    return [
        ValidationProblem(path=format_path(e["loc"]), message=e["msg"], type=e["type"])
        for e in error.errors(include_url=False)
    ]
