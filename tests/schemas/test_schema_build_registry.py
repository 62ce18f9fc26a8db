"""The registry build script and the shipped data it produces."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from schemas.build_registry import main
from schemas.registry import PACKAGED_DATA_DIR, AreaLevel, AreaRegistry, RegistryDataError

# In CI and on developer machines the shared folder sits beside the repository.
SHARED_SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "idn-area"

TINY_SOURCE = {
    "provinces.csv": "code,name\n99,Provinsi Uji\n",
    "regencies.csv": "code,province_code,name\n99.71,99,Kota Uji\n",
    "districts.csv": "code,regency_code,name\n99.71.01,99.71,Uji Timur\n",
    "villages.csv": 'code,district_code,name\n99.71.01.1001,99.71.01,"Ra""as, Baru"\n',
    "LICENSE.md": "# Open Database License (ODbL)\n",
}


def write_source(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_build_writes_a_loadable_reproducible_copy(tmp_path: Path) -> None:
    source = write_source(tmp_path / "src", TINY_SOURCE)
    out = tmp_path / "out"
    assert main(["--source", str(source), "--output", str(out)]) == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(first) == [
        "ATTRIBUTION.md",
        "LICENSE-ODbL.md",
        "districts.csv.gz",
        "provinces.csv.gz",
        "regencies.csv.gz",
        "villages.csv.gz",
    ]
    assert gzip.decompress(first["villages.csv.gz"]).decode() == TINY_SOURCE["villages.csv"]
    assert b"idn-area-data" in first["ATTRIBUTION.md"] and b"ODbL" in first["ATTRIBUTION.md"]

    assert main(["--source", str(source), "--output", str(out)]) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first  # byte-for-byte

    registry = AreaRegistry.from_directory(out)
    assert registry.require("99.71.01.1001").name == 'Ra"as, Baru'


def test_check_mode_detects_stale_data(tmp_path: Path) -> None:
    source = write_source(tmp_path / "src", TINY_SOURCE)
    out = tmp_path / "out"
    main(["--source", str(source), "--output", str(out)])
    assert main(["--source", str(source), "--output", str(out), "--check"]) == 0
    write_source(
        source, {"villages.csv": TINY_SOURCE["villages.csv"] + "99.71.01.1002,99.71.01,X\n"}
    )
    assert main(["--source", str(source), "--output", str(out), "--check"]) == 1


def test_inconsistent_source_is_refused(tmp_path: Path) -> None:
    bad = {**TINY_SOURCE, "villages.csv": "code,district_code,name\n99.71.02.1001,99.71.02,X\n"}
    source = write_source(tmp_path / "src", bad)
    with pytest.raises(RegistryDataError, match=r"parent '99\.71\.02' not found"):
        main(["--source", str(source), "--output", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("table", "text", "message"),
    [
        ("regencies.csv", "code,name\n99.71,Kota Uji\n", "expected header"),
        ("districts.csv", "code,regency_code,name\n99.71.01,99.71\n", "line 2: expected 3"),
    ],
)
def test_malformed_csv_is_refused(tmp_path: Path, table: str, text: str, message: str) -> None:
    source = write_source(tmp_path / "src", {**TINY_SOURCE, table: text})
    with pytest.raises(RegistryDataError, match=message):
        main(["--source", str(source), "--output", str(tmp_path / "out")])


def test_shipped_data_is_small_and_attributed() -> None:
    names = {p.name for p in PACKAGED_DATA_DIR.iterdir()}
    assert {"LICENSE-ODbL.md", "ATTRIBUTION.md", "villages.csv.gz"} <= names
    total = sum(p.stat().st_size for p in PACKAGED_DATA_DIR.iterdir())
    assert total < 1_500_000
    attribution = (PACKAGED_DATA_DIR / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "4.0.1" in attribution and "Open Database License" in attribution
    assert "Open Database License" in (PACKAGED_DATA_DIR / "LICENSE-ODbL.md").read_text("utf-8")


@pytest.mark.skipif(not SHARED_SOURCE.is_dir(), reason="shared idn-area source not beside repo")
def test_shipped_data_matches_the_source() -> None:
    assert main(["--source", str(SHARED_SOURCE), "--check"]) == 0
    assert AreaRegistry.from_directory(SHARED_SOURCE).count(AreaLevel.VILLAGE) == 83762
