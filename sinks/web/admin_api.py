"""Administration over HTTP (``admin`` role): operator tokens and the alert rules.

Operator tokens are the file ``sitrep operators`` manages: list, add (the token is shown once),
revoke; each change is on the audit trail. Rules are deployed as files that the worker reads
when it starts: here an administrator sees the rules in force with any problem in them
(``sitrep rules check``), and checks a rule file before deploying it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from schemas.audit import AuditAction
from schemas.registry import default_registry
from sinks.web.audit import record_audit
from sinks.web.auth import Caller, require
from sinks.web.errors import ApiProblem
from sinks.web.operators import (
    OperatorRole,
    add_operator,
    load_operator_file,
    new_operator_grant,
    revoke_operator,
)
from sitrep.settings import Settings
from streams.rules.model import RulesError, RuleSet, load_rules, parse_rules
from streams.rules.sites import default_rules_dir

Admin = Annotated[Caller, Depends(require(OperatorRole.ADMIN))]
router = APIRouter(
    prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require(OperatorRole.ADMIN))]
)


class NewOperator(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128, description="who holds the token")
    role: OperatorRole = OperatorRole.COMMANDER


def _tokens_file(request: Request) -> Path:
    settings: Settings = request.app.state.settings
    return settings.web.tokens_path(settings.home)


@router.get("/operators", summary="Operator tokens (never the tokens themselves)")
def list_operators(request: Request) -> dict[str, Any]:
    grants = load_operator_file(_tokens_file(request)).operators
    return {
        "operators": [
            {
                "token_id": grant.token_id,
                "name": grant.name,
                "role": grant.role.value,
                "created_at": grant.created_at.isoformat(),
            }
            for grant in grants
        ]
    }


@router.post("/operators", status_code=201, summary="Add an operator token (shown once)")
def add(request: Request, body: NewOperator, caller: Admin) -> dict[str, Any]:
    token, grant = new_operator_grant(body.name, (body.role,), datetime.now(UTC))
    add_operator(_tokens_file(request), grant)
    record_audit(
        request, caller, AuditAction.OPERATOR_ADD, grant.token_id, f"{grant.name} ({body.role})"
    )
    return {"token": token, "token_id": grant.token_id, "name": grant.name, "role": body.role}


@router.delete("/operators/{token_id}", status_code=204, summary="Revoke an operator token")
def revoke(request: Request, token_id: str, caller: Admin) -> Response:
    if not revoke_operator(_tokens_file(request), token_id):
        raise ApiProblem(404, "operator_not_found", token_id=token_id)
    record_audit(request, caller, AuditAction.OPERATOR_REVOKE, token_id)
    return Response(status_code=204)


def rules_view(rule_set: RuleSet) -> list[dict[str, Any]]:
    return [
        {
            "id": rule.id,
            "name": rule.name,
            "type": rule.type,
            "enabled": rule.enabled,
            "tiers": [tier.value for tier, _ in rule.tiers.items()],
            "channels": sorted(
                {route.channel for _, spec in rule.tiers.items() for route in spec.routes}
            ),
        }
        for rule in rule_set
    ]


@router.get("/rules", summary="The alert rules the worker loads, with any problem in them")
def rules(request: Request) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    folder = Path(settings.worker.rules_dir or default_rules_dir())
    try:
        rule_set = load_rules(folder, default_registry(), settings.province_code)
    except RulesError as exc:
        return {"folder": str(folder), "valid": False, "problems": list(exc.problems), "rules": []}
    return {"folder": str(folder), "valid": True, "problems": [], "rules": rules_view(rule_set)}


@router.post("/rules/check", summary="Check a rule file (YAML) before deploying it")
def check_rules(
    request: Request,
    document: Annotated[str, Body(media_type="application/yaml", description="a rule file")],
) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    try:
        parsed = yaml.safe_load(document)
    except yaml.YAMLError as exc:
        return {"valid": False, "problems": [f"request.yaml: (file): not YAML: {exc}"], "rules": []}
    try:
        rule_set = parse_rules(
            [("request.yaml", parsed or [])], default_registry(), settings.province_code
        )
    except RulesError as exc:
        return {"valid": False, "problems": list(exc.problems), "rules": []}
    return {"valid": True, "problems": [], "rules": rules_view(rule_set)}
