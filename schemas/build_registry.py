"""Regenerate ``schemas/data`` from the idn-area-data CSV folder.

    python -m schemas.build_registry --source ../shared/data/idn-area
    python -m schemas.build_registry --source ../shared/data/idn-area --check

The source rows are validated (code shapes, parent links, uniqueness) by building an
AreaRegistry from them, then written back as canonical CSV, gzip-compressed with a fixed
timestamp so the output is byte-for-byte reproducible. ``--check`` compares instead of
writing and exits 1 if the shipped copy is out of date.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import sys
from pathlib import Path
from typing import Final

from schemas.registry import (
    PACKAGED_DATA_DIR,
    TABLE_FILES,
    TABLE_HEADERS,
    Area,
    AreaLevel,
    AreaRegistry,
    describe_level,
    parse_table,
)

SOURCE_LICENSE: Final = "LICENSE.md"
LICENSE_FILE: Final = "LICENSE-ODbL.md"
ATTRIBUTION_FILE: Final = "ATTRIBUTION.md"

ATTRIBUTION_TEMPLATE: Final = """\
# Area registry data: attribution

The files `*.csv.gz` in this folder contain information from **idn-area-data** version 4.0.1
(npm package `idn-area-data`, its `data/` folder; upstream repository
fityannugroho/idn-area-data on GitHub), which is made available under the
**Open Database License (ODbL) v1.0**, full text in `LICENSE-ODbL.md` beside this file.
The upstream package states that the data follows the latest regulation of the Indonesian
Ministry of Home Affairs (Kementerian Dalam Negeri, Kemendagri) on administrative area codes.

These files are a derivative database: the same rows, validated and re-encoded (canonical CSV,
gzip-compressed) by `python -m schemas.build_registry`. They remain under the ODbL; anyone
redistributing them, or a database derived from them, must keep this attribution and licence.
Only the data is under the ODbL; the sitrep code is licensed separately.

| file | level | rows | source file | source SHA-256 |
| --- | --- | --- | --- | --- |
{rows}
"""


def canonical_csv(level: AreaLevel, areas: list[Area]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TABLE_HEADERS[level])
    for area in areas:
        if area.parent_code is None:
            writer.writerow((area.code, area.name))
        else:
            writer.writerow((area.code, area.parent_code, area.name))
    return buffer.getvalue().encode("utf-8")


def deterministic_gzip(data: bytes) -> bytes:
    """gzip with no file name and mtime 0, so equal input gives equal bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buffer.getvalue()


def build_outputs(source: Path) -> dict[str, bytes]:
    """File name -> content for everything that belongs in ``schemas/data``."""
    tables = {
        level: parse_table(level, (source / f"{name}.csv").read_text(encoding="utf-8"))
        for level, name in TABLE_FILES.items()
    }
    # Building the registry (villages eagerly) runs every consistency check on the rows.
    registry = AreaRegistry(area for areas in tables.values() for area in areas)
    registry.count(AreaLevel.VILLAGE)

    outputs = {
        f"{TABLE_FILES[level]}.csv.gz": deterministic_gzip(canonical_csv(level, areas))
        for level, areas in tables.items()
    }
    outputs[LICENSE_FILE] = (source / SOURCE_LICENSE).read_bytes()
    outputs[ATTRIBUTION_FILE] = _attribution(source, tables).encode("utf-8")
    return outputs


def _attribution(source: Path, tables: dict[AreaLevel, list[Area]]) -> str:
    rows = []
    for level, areas in tables.items():
        name = TABLE_FILES[level]
        digest = hashlib.sha256((source / f"{name}.csv").read_bytes()).hexdigest()
        label = describe_level(level)
        rows.append(f"| `{name}.csv.gz` | {label} | {len(areas)} | `{name}.csv` | `{digest}` |")
    return ATTRIBUTION_TEMPLATE.format(rows="\n".join(rows))


def stale_files(outputs: dict[str, bytes], out_dir: Path) -> list[str]:
    """Names of files in ``out_dir`` that are missing or differ from ``outputs``."""
    return [
        name
        for name, content in outputs.items()
        if not (out_dir / name).is_file() or (out_dir / name).read_bytes() != content
    ]


def write_outputs(outputs: dict[str, bytes], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, content in outputs.items():
        (out_dir / name).write_bytes(content)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.build_registry", description=__doc__)
    parser.add_argument("--source", type=Path, required=True, help="idn-area-data CSV folder")
    parser.add_argument("--output", type=Path, default=PACKAGED_DATA_DIR, help="target folder")
    parser.add_argument("--check", action="store_true", help="verify instead of writing")
    args = parser.parse_args(argv)

    outputs = build_outputs(args.source)
    if args.check:
        stale = stale_files(outputs, args.output)
        for name in stale:
            sys.stderr.write(f"out of date: {args.output / name}\n")
        return 1 if stale else 0
    write_outputs(outputs, args.output)
    total = sum(len(content) for content in outputs.values())
    sys.stdout.write(f"wrote {len(outputs)} files ({total} bytes) to {args.output}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
