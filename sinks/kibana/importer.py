"""Kibana's saved objects import API: ``POST [/s/<space>]/api/saved_objects/_import``.

The NDJSON goes as the multipart field ``file`` with ``overwrite=true``, so a second import
replaces the objects instead of failing with conflicts. Kibana answers 200 even when objects
fail: ``success`` is then false and ``errors`` lists each failed object with the reason
(``missing_references``, ``unsupported_type``, ``unknown``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

DEFAULT_SPACE = "default"


class KibanaError(RuntimeError):
    """Kibana could not be reached or refused the request as a whole."""


@dataclass(frozen=True)
class ImportedObject:
    type: str
    id: str
    title: str


@dataclass(frozen=True)
class FailedObject:
    type: str
    id: str
    title: str
    reason: str


@dataclass(frozen=True)
class ImportResult:
    success: bool
    imported: tuple[ImportedObject, ...]
    failed: tuple[FailedObject, ...]
    warnings: tuple[str, ...] = field(default=())


def import_path(space: str) -> str:
    """The API path in a space (the default space has no ``/s/<space>`` part)."""
    base = "/api/saved_objects/_import"
    return base if space == DEFAULT_SPACE else f"/s/{space}{base}"


def app_path(space: str, path: str) -> str:
    return path if space == DEFAULT_SPACE else f"/s/{space}{path}"


def describe_error(error: dict[str, Any]) -> str:
    """One line per failed object from the ``error`` member of an import error."""
    kind = str(error.get("type", "unknown"))
    if kind == "missing_references":
        missing = ", ".join(
            f"{ref.get('type')}/{ref.get('id')}" for ref in error.get("references", [])
        )
        return f"missing references: {missing}"
    if kind == "unsupported_type":
        return "unsupported type (is the Kibana app that owns it switched off?)"
    if kind in ("conflict", "ambiguous_conflict"):
        return f"{kind.replace('_', ' ')} with an existing object"
    message = error.get("message") or error.get("error")
    status = error.get("statusCode")
    details = f"{message}" if message else kind
    return f"{details} (HTTP {status})" if status else details


def parse_response(body: dict[str, Any]) -> ImportResult:
    imported = tuple(
        ImportedObject(
            str(item.get("type")),
            str(item.get("destinationId") or item.get("id")),
            str((item.get("meta") or {}).get("title", "")),
        )
        for item in body.get("successResults", [])
    )
    failed = tuple(
        FailedObject(
            str(item.get("type")),
            str(item.get("id")),
            str(item.get("title") or (item.get("meta") or {}).get("title", "")),
            describe_error(item.get("error") or {}),
        )
        for item in body.get("errors", [])
    )
    warnings = tuple(
        str(warning.get("message", warning)) if isinstance(warning, dict) else str(warning)
        for warning in body.get("warnings", [])
    )
    success = bool(body.get("success")) and not failed
    return ImportResult(success, imported, failed, warnings)


def _refusal(response: httpx.Response) -> str:
    """Kibana's own message of a non-2xx answer ({"statusCode", "error", "message"})."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)[:300]
    return str(body)[:300]


def import_objects(
    client: httpx.Client, ndjson: bytes, space: str, filename: str = "sitrep.ndjson"
) -> ImportResult:
    """Send the objects; KibanaError if Kibana is unreachable or refuses the whole request."""
    import httpx

    where = str(client.base_url).rstrip("/")
    try:
        response = client.post(
            import_path(space),
            params={"overwrite": "true"},
            files={"file": (filename, ndjson, "application/ndjson")},
        )
    except httpx.TimeoutException as exc:
        raise KibanaError(f"Kibana at {where} did not answer in time ({exc})") from None
    except httpx.TransportError as exc:
        raise KibanaError(f"cannot reach Kibana at {where}: {exc}") from None
    status = response.status_code
    if status == 401:
        raise KibanaError(
            f"Kibana at {where} refused the credentials (401: {_refusal(response)}); set "
            "SITREP_KIBANA__API_KEY or SITREP_KIBANA__USERNAME and SITREP_KIBANA__PASSWORD"
        )
    if status == 403:
        raise KibanaError(
            f"Kibana at {where} does not let this user import saved objects in space "
            f"{space!r} (403: {_refusal(response)})"
        )
    if status == 404:
        raise KibanaError(
            f"Kibana at {where} has no {import_path(space)} (404: {_refusal(response)}); "
            f"does the space {space!r} exist, and is the URL Kibana's (not Elasticsearch's)?"
        )
    if not 200 <= status < 300:
        raise KibanaError(f"Kibana at {where} answered {status}: {_refusal(response)}")
    try:
        body = response.json()
    except ValueError:
        raise KibanaError(
            f"Kibana at {where} answered {status} without JSON: is this Kibana?"
        ) from None
    if not isinstance(body, dict) or "success" not in body:
        raise KibanaError(f"Kibana at {where} answered an unexpected body: {str(body)[:300]}")
    return parse_response(body)
