"""Area registry: lookups on the shipped idn-area data, laziness, error messages."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import pytest

from schemas.registry import Area, AreaLevel, AreaRegistry, RegistryDataError, UnknownAreaError

KALTIM_REGENCIES = [
    "64.01",
    "64.02",
    "64.03",
    "64.07",
    "64.08",
    "64.09",
    "64.11",
    "64.71",
    "64.72",
    "64.74",
]


def codes(areas: Iterable[Area]) -> list[str]:
    return [area.code for area in areas]


def test_regency_lookup(registry: AreaRegistry) -> None:
    area = registry.get("64.71")
    assert area == Area("64.71", "Kota Balikpapan", AreaLevel.REGENCY, "64")


def test_province_and_its_regencies(registry: AreaRegistry) -> None:
    assert registry.require("64").name == "Kalimantan Timur"
    assert codes(registry.regencies("64")) == KALTIM_REGENCIES
    assert registry.children("64") == registry.regencies("64")


def test_kecamatan_and_village_lookup(registry: AreaRegistry) -> None:
    assert [a.name for a in registry.districts("64.71")] == [
        "Balikpapan Timur",
        "Balikpapan Barat",
        "Balikpapan Utara",
        "Balikpapan Tengah",
        "Balikpapan Selatan",
        "Balikpapan Kota",
    ]
    village = registry.require("64.71.01.1001")
    assert (village.name, village.level, village.parent_code) == (
        "Manggar",
        AreaLevel.VILLAGE,
        "64.71.01",
    )
    assert "64.71.01.1001" in codes(registry.villages("64.71.01"))
    assert registry.children("64.71.01.1001") == ()


def test_kaltim_totals_match_source(registry: AreaRegistry) -> None:
    kecamatan = [d for r in registry.regencies("64") for d in registry.districts(r.code)]
    villages = [v for d in kecamatan for v in registry.villages(d.code)]
    assert (len(kecamatan), len(villages)) == (105, 1038)


def test_national_totals(registry: AreaRegistry) -> None:
    counts = {level: registry.count(level) for level in AreaLevel}
    assert counts == {
        AreaLevel.PROVINCE: 38,
        AreaLevel.REGENCY: 514,
        AreaLevel.DISTRICT: 7285,
        AreaLevel.VILLAGE: 83762,
    }


def test_other_province_works_too(registry: AreaRegistry) -> None:
    assert registry.require("32").name == "Jawa Barat"
    assert len(registry.regencies("32")) == 27
    assert registry.require("32.73").name == "Kota Bandung"
    assert registry.require("32.73.01").name == "Sukasari"
    assert registry.belongs_to("32.73.01.1001", "32")
    assert registry.province_of("32.73.01.1001").name == "Jawa Barat"


def test_find_by_name_ignores_kota_prefix_case_and_spacing(registry: AreaRegistry) -> None:
    assert codes(registry.find_by_name("balikpapan")) == ["64.71"]
    assert codes(registry.find_by_name("  KOTA   balikpapan ")) == ["64.71"]
    assert codes(registry.find_by_name("Kab. Paser")) == ["64.01"]
    assert codes(registry.find_by_name("jakarta pusat")) == ["31.71"]


def test_find_by_name_with_prefix_is_specific(registry: AreaRegistry) -> None:
    assert codes(registry.find_by_name("bogor", level=AreaLevel.REGENCY)) == ["32.01", "32.71"]
    assert codes(registry.find_by_name("Kota Bogor")) == ["32.71"]


def test_find_by_name_puts_exact_matches_first(registry: AreaRegistry) -> None:
    found = registry.find_by_name("Bogor")
    exact = [a for a in found if a.name == "Bogor"]
    assert len(exact) == 3  # villages literally named "Bogor"
    assert found[: len(exact)] == exact
    assert codes(found[len(exact) :]) == ["32.01", "32.71"]


def test_find_by_name_levels_and_within(registry: AreaRegistry) -> None:
    assert codes(registry.find_by_name("balikpapan timur")) == ["64.71.01"]
    assert codes(registry.find_by_name("Bogor", within="32")) == ["32.12.24.2001", "32.01", "32.71"]
    assert codes(registry.find_by_name("Bogor", level="village", within="33")) == ["33.10.05.2020"]
    assert registry.find_by_name("balikpapan", within="32") == []
    assert registry.find_by_name("no such place") == []
    with pytest.raises(UnknownAreaError):
        registry.find_by_name("balikpapan", within="99")


def test_belongs_to(registry: AreaRegistry) -> None:
    assert registry.belongs_to("64.71.01.1001", "64.71.01")
    assert registry.belongs_to("64.71.01.1001", "64.71")
    assert registry.belongs_to("64.71.01.1001", "64")
    assert registry.belongs_to("64.71", "64.71")  # an area lies within itself
    assert not registry.belongs_to("64.71.01.1001", "64.71.02")
    assert not registry.belongs_to("64.72", "64.71")
    assert not registry.belongs_to("64.71", "64.71.01")  # parent is not inside child
    assert not registry.belongs_to("64.99", "64")


def test_lineage_and_province_of(registry: AreaRegistry) -> None:
    assert codes(registry.lineage("64.71.01.1001")) == ["64", "64.71", "64.71.01", "64.71.01.1001"]
    assert registry.province_of("64.71.01").code == "64"
    assert registry.parent("64.71") == registry.require("64")
    assert registry.parent("64") is None


def test_unknown_code_error_is_clear(registry: AreaRegistry) -> None:
    assert registry.get("64.99") is None
    with pytest.raises(UnknownAreaError) as caught:
        registry.require("64.99")
    error = caught.value
    assert isinstance(error, KeyError)
    assert isinstance(error, ValueError)
    assert error.code == "64.99"
    assert str(error) == "unknown area code '64.99': not in the area registry"


def test_malformed_and_wrong_level_codes(registry: AreaRegistry) -> None:
    assert registry.get("6471") is None
    assert "64.5" not in registry
    with pytest.raises(UnknownAreaError, match="not a valid regency/city code"):
        registry.require("6471", AreaLevel.REGENCY)
    with pytest.raises(UnknownAreaError, match=r"'64\.71' is a regency/city .*not a province"):
        registry.regencies("64.71")
    with pytest.raises(UnknownAreaError, match=r"unknown kecamatan code '64\.71\.99'"):
        registry.villages("64.71.99")


def test_villages_load_only_when_needed(fresh_registry: AreaRegistry) -> None:
    fresh_registry.require("64.71")
    fresh_registry.districts("64.71")
    fresh_registry.find_by_name("balikpapan", level=AreaLevel.REGENCY)
    assert not fresh_registry.villages_loaded
    fresh_registry.get("64.71.01.1001")
    assert fresh_registry.villages_loaded


def test_areas_are_immutable(registry: AreaRegistry) -> None:
    area = registry.require("64.71")
    with pytest.raises(dataclasses.FrozenInstanceError):
        area.name = "changed"  # type: ignore[misc]
    assert isinstance(registry.regencies("64"), tuple)


def test_custom_registry_from_areas() -> None:
    registry = AreaRegistry(
        [
            Area("99.01.01.2001", "Desa Uji", AreaLevel.VILLAGE, "99.01.01"),
            Area("99.01.01", "Kecamatan Uji", AreaLevel.DISTRICT, "99.01"),
            Area("99.01", "Kota Uji", AreaLevel.REGENCY, "99"),
            Area("99", "Provinsi Uji", AreaLevel.PROVINCE, None),
        ]
    )
    assert codes(registry.find_by_name("uji")) == ["99.01"]
    assert registry.belongs_to("99.01.01.2001", "99")
    assert registry.get("64.71") is None


@pytest.mark.parametrize(
    ("areas", "message"),
    [
        ([Area("99.01", "Kota Uji", AreaLevel.REGENCY, "99")], "parent '99' not found"),
        (
            [Area("99", "A", AreaLevel.PROVINCE, None), Area("99", "B", AreaLevel.PROVINCE, None)],
            "duplicate area code '99'",
        ),
        ([Area("9", "A", AreaLevel.PROVINCE, None)], "not a well-formed province code"),
        (
            [
                Area("98", "A", AreaLevel.PROVINCE, None),
                Area("99", "B", AreaLevel.PROVINCE, None),
                Area("99.01", "C", AreaLevel.REGENCY, "98"),
            ],
            "parent must be '99'",
        ),
        ([Area("99", " ", AreaLevel.PROVINCE, None)], "empty name"),
    ],
)
def test_inconsistent_data_is_rejected(areas: list[Area], message: str) -> None:
    with pytest.raises(RegistryDataError, match=message):
        AreaRegistry(areas)


def test_orphan_village_is_rejected_when_villages_load() -> None:
    registry = AreaRegistry(
        [Area("99", "P", AreaLevel.PROVINCE, None)],
        villages=lambda: [Area("99.01.01.2001", "V", AreaLevel.VILLAGE, "99.01.01")],
    )
    with pytest.raises(RegistryDataError, match=r"parent '99\.01\.01' not found"):
        registry.get("99.01.01.2001")
