"""sitrep wire contract: field reports, area status, alerts, and the area registry.

Importing this package loads no area data; ``default_registry()`` does, on first call.
"""

from schemas.alert import ALERT_SCHEMA_VERSION, Alert, AlertState, AlertTier, make_alert_id
from schemas.common import Identifier, Timestamp, ValidationProblem, validation_problems
from schemas.deadletter import DeadLetter, Reason, Stage, make_dead_letter
from schemas.export import export_json_schemas, json_schema_documents
from schemas.registry import (
    Area,
    AreaLevel,
    AreaRegistry,
    RegistryDataError,
    UnknownAreaError,
    default_registry,
    level_of_code,
)
from schemas.report import (
    MAX_FUTURE_SKEW,
    REGISTRY_CONTEXT_KEY,
    REPORT_SCHEMA_VERSION,
    Category,
    FieldReport,
    GeoPoint,
    IncidentState,
    OperationPhase,
    Reporter,
    ReporterRole,
    ReportKind,
    ReportSource,
    parse_report,
    report_to_json_bytes,
)
from schemas.status import (
    RANKED_LEVELS,
    STATUS_SCHEMA_VERSION,
    AreaStatus,
    StatusLevel,
    TopReport,
)

__all__ = [
    "ALERT_SCHEMA_VERSION",
    "MAX_FUTURE_SKEW",
    "RANKED_LEVELS",
    "REGISTRY_CONTEXT_KEY",
    "REPORT_SCHEMA_VERSION",
    "STATUS_SCHEMA_VERSION",
    "Alert",
    "AlertState",
    "AlertTier",
    "Area",
    "AreaLevel",
    "AreaRegistry",
    "AreaStatus",
    "Category",
    "DeadLetter",
    "FieldReport",
    "GeoPoint",
    "Identifier",
    "IncidentState",
    "OperationPhase",
    "Reason",
    "RegistryDataError",
    "ReportKind",
    "ReportSource",
    "Reporter",
    "ReporterRole",
    "Stage",
    "StatusLevel",
    "Timestamp",
    "TopReport",
    "UnknownAreaError",
    "ValidationProblem",
    "default_registry",
    "export_json_schemas",
    "json_schema_documents",
    "level_of_code",
    "make_alert_id",
    "make_dead_letter",
    "parse_report",
    "report_to_json_bytes",
    "validation_problems",
]
