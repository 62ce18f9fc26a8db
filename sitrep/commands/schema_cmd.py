"""``sitrep schema``: the wire contract as JSON Schema."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def schema() -> None:
    """The wire contract (field report, area status, alert)."""


@schema.command("export")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas/json"),
    show_default=True,
    help="Folder to write the *.schema.json files into (created if missing).",
)
def export(out_dir: Path) -> None:
    """Write JSON Schema (draft 2020-12) files for every wire model."""
    from schemas.export import export_json_schemas

    for path in export_json_schemas(out_dir):
        click.echo(str(path))
