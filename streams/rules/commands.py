"""``sitrep rules check`` and ``sitrep rules test``: validate rule files, replay scenarios."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from sitrep.commands.common import Context, fail, pass_context
from streams.rules.sites import default_rules_dir, default_sites_dir

__all__ = ["default_rules_dir", "default_sites_dir", "rules"]


def _dirs(ctx: Context, rules_dir: Path | None, sites_dir: Path | None) -> tuple[Path, Path]:
    worker = ctx.settings.worker
    configured_rules = getattr(worker, "rules_dir", None)
    configured_sites = getattr(worker, "sites_dir", None)
    chosen_rules = rules_dir or configured_rules or default_rules_dir()
    chosen_sites = sites_dir or configured_sites or Path(chosen_rules) / "sites"
    return Path(chosen_rules), Path(chosen_sites)


def _load(ctx: Context, rules_dir: Path | None, sites_dir: Path | None) -> Any:
    from schemas.registry import default_registry
    from streams.rules.model import RulesError, load_rules
    from streams.rules.sites import load_sites

    folder, sites_folder = _dirs(ctx, rules_dir, sites_dir)
    registry = default_registry()
    problems: list[str] = []
    rule_set = sites = None
    try:
        rule_set = load_rules(folder, registry, ctx.settings.province_code)
    except RulesError as exc:
        problems.extend(exc.problems)
    try:
        sites = load_sites(sites_folder)
    except RulesError as exc:
        problems.extend(f"sites/{line}" for line in exc.problems)
    return folder, rule_set, sites, registry, problems


@click.group()
def rules() -> None:
    """Alert rules (rules/*.yaml): validate them, replay reports through them (docs/alerts.md)."""


_DIR = click.Path(file_okay=False, path_type=Path)


@rules.command("check")
@click.option("--rules", "rules_dir", type=_DIR, help="Rule folder (default: rules/).")
@click.option("--sites", "sites_dir", type=_DIR, help="Sites folder (default: RULES/sites).")
@pass_context
def check(ctx: Context, rules_dir: Path | None, sites_dir: Path | None) -> None:
    """Validate every rule and site file; print the rules, or every problem (exit 1)."""
    folder, rule_set, sites, _, problems = _load(ctx, rules_dir, sites_dir)
    if problems:
        for line in problems:
            click.echo(line, err=True)
        fail(f"{len(problems)} problem(s) in {folder}")
    click.echo(f"{'id':<28} {'type':<10} {'on':<4} {'tiers':<17} channels")
    for rule in rule_set:
        tiers = ",".join(tier.value for tier, _ in rule.tiers.items())
        channels = sorted({r.channel for _, spec in rule.tiers.items() for r in spec.routes})
        enabled = "yes" if rule.enabled else "no"
        click.echo(f"{rule.id:<28} {rule.type:<10} {enabled:<4} {tiers:<17} {','.join(channels)}")
    click.echo(f"{len(rule_set)} rule(s), {len(sites)} site(s): OK")


@rules.command("test")
@click.argument("rule_id")
@click.option(
    "--scenario", required=True, help="JSONL of reports (sitrep simulate --out) or a scenario name."
)
@click.option("--from", "start", help="Start (ISO time or date, local zone if naive).")
@click.option("--to", "end", help="End (exclusive).")
@click.option(
    "--seed", type=int, default=1, show_default=True, help="Simulator seed (scenario names)."
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True)
@click.option("--updates", is_flag=True, help="Also list update records (evidence grew).")
@click.option("--rules", "rules_dir", type=_DIR, help="Rule folder (default: rules/).")
@click.option("--sites", "sites_dir", type=_DIR, help="Sites folder (default: RULES/sites).")
@pass_context
def test(
    ctx: Context,
    rule_id: str,
    scenario: str,
    start: str | None,
    end: str | None,
    seed: int,
    fmt: str,
    lang: str,
    updates: bool,
    rules_dir: Path | None,
    sites_dir: Path | None,
) -> None:
    """Replay reports through RULE_ID on a virtual clock and print every alert it would raise.

    Stream time follows occurred_at; the engine ticks every virtual minute (flatline, resolve).
    History from Kafka (--from/--to over the topic) is not supported: export it to JSONL.

    \b
    Examples:
      sitrep rules test bentrokan-beruntun --scenario voting.jsonl
      sitrep rules test kecamatan-senyap --scenario pilkada-kaltim-2024 \\
        --from 2024-11-27 --to 2024-11-28
    """
    from schemas.alert import AlertChange
    from streams.rules.engine import RuleEngine
    from streams.rules.model import RuleSet
    from streams.rules.replay import replay_reports

    _, rule_set, sites, registry, problems = _load(ctx, rules_dir, sites_dir)
    if problems:
        fail("rules have problems; run `sitrep rules check`:\n" + "\n".join(problems))
    rule = rule_set.get(rule_id)
    if rule is None:
        fail(f"no rule {rule_id!r} (known: {', '.join(r.id for r in rule_set)})")
    if rule.type == "level":
        fail("level rules read sitrep.status, not reports: replay statuses in tests instead")
    zone = ZoneInfo(ctx.settings.timezone)
    begin, finish = _instant(start, zone), _instant(end, zone)
    single = RuleSet((rule.model_copy(update={"enabled": True}),), rule_set.province_code)
    engine = RuleEngine(single, registry, sites, zone)
    expected = [
        code
        for regency in registry.regencies(ctx.settings.province_code)
        for code in (regency.code, *(d.code for d in registry.districts(regency.code)))
    ]
    reports = _reports(scenario, registry, seed, begin, finish)
    drain = rule.longest_window + max(rule.resolve_after, rule.flapping.period) + 1
    result = replay_reports(engine, reports, expected, drain_minutes=drain, until=finish)
    shown = [r for r in result.alerts if updates or r.alert.change is not AlertChange.UPDATE]
    counts = Counter("realert" if r.realert else r.alert.change.value for r in result.alerts)
    if fmt == "json":
        for item in shown:
            record = item.alert.model_dump(mode="json", exclude_none=True)
            record["realert"] = item.realert
            click.echo(json.dumps(record, ensure_ascii=False))
        click.echo(json.dumps({"summary": dict(sorted(counts.items())), "reports": result.reports}))
        return
    click.echo(
        f"{'time (local)':<22} {'change':<12} {'tier':<9} {'group':<26} {'value':>7} ev  late"
    )
    for item in shown:
        alert = item.alert
        label = "realert" if item.realert else alert.change.value
        when = alert.updated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        value = "-" if alert.value is None else f"{alert.value:g}"
        late = "late" if alert.late else ""
        click.echo(
            f"{when:<22} {label:<12} {alert.tier.value:<9} {alert.group_key:<26} {value:>7} "
            f"{len(alert.evidence_report_ids):>2}  {late}"
        )
        if alert.change in (AlertChange.FIRED, AlertChange.ESCALATED):
            click.echo(f"{'':<22} {alert.message_id if lang == 'id' else alert.message_en}")
    summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "none"
    click.echo(f"{result.reports} report(s) replayed; alerts: {summary}")


def _instant(value: str | None, zone: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{value!r} is not an ISO date or time, e.g. 2024-11-27 or 2024-11-27T08:00")
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _reports(
    scenario: str, registry: Any, seed: int, begin: datetime | None, end: datetime | None
) -> Iterator[tuple[int, Any]]:
    from streams.rules.replay import parse_jsonl

    path = Path(scenario)
    if path.suffix in {".jsonl", ".json", ".ndjson"} or (
        path.exists() and path.is_file() and path.suffix not in {".yaml", ".yml"}
    ):
        if not path.is_file():
            fail(f"no such file: {path}")
        lines = path.read_bytes().splitlines()
        for number, report in parse_jsonl(lines, registry):
            if begin is None or report.occurred_at >= begin:
                yield number, report
        return
    from pydantic import ValidationError

    from producers.simulator.engine import Simulator
    from producers.simulator.scenario import load_scenario

    try:
        loaded = load_scenario(scenario)
        simulator = Simulator(loaded, registry, seed)
    except (FileNotFoundError, ValueError, ValidationError) as exc:
        fail(f"cannot load scenario {scenario!r}: {exc}")
    records = simulator.records(begin, end)
    yield from parse_jsonl((record.raw for record in records), registry)
