"""Indonesian administrative area registry (Kemendagri codes).

Four levels, each a dotted extension of its parent's code::

    province 64 > regency/city 64.71 > kecamatan 64.71.01 > village 64.71.01.1001

In the wire format "district" means regency/city and "subdistrict" means kecamatan; in this
module the levels keep their data names (``regency``, ``district`` = kecamatan).

The registry is immutable once built. Provinces, regencies and kecamatan (~7.8k rows) are
loaded when the registry is created; the 83k villages only on the first lookup that needs
them, so validating a report without a village never pays for them.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Final

__all__ = [
    "Area",
    "AreaLevel",
    "AreaRegistry",
    "RegistryDataError",
    "UnknownAreaError",
    "default_registry",
    "level_of_code",
    "normalise_name",
]


class AreaLevel(StrEnum):
    """Administrative level, from the top down."""

    PROVINCE = "province"
    REGENCY = "regency"  # kabupaten/kota; "district" in the wire format and UI
    DISTRICT = "district"  # kecamatan; "subdistrict" in the wire format
    VILLAGE = "village"  # kelurahan/desa

    @property
    def depth(self) -> int:
        """0 for province … 3 for village."""
        return _LEVEL_ORDER.index(self)

    @property
    def parent_level(self) -> AreaLevel | None:
        return _PARENT_LEVEL[self]

    @property
    def child_level(self) -> AreaLevel | None:
        return _CHILD_LEVEL[self]


_LEVEL_ORDER: Final = (AreaLevel.PROVINCE, AreaLevel.REGENCY, AreaLevel.DISTRICT, AreaLevel.VILLAGE)
_PARENT_LEVEL: Final = dict(zip(_LEVEL_ORDER, (None, *_LEVEL_ORDER[:-1]), strict=True))
_CHILD_LEVEL: Final = dict(zip(_LEVEL_ORDER, (*_LEVEL_ORDER[1:], None), strict=True))

_CODE_PATTERNS: Final = {
    AreaLevel.PROVINCE: re.compile(r"\d{2}"),
    AreaLevel.REGENCY: re.compile(r"\d{2}\.\d{2}"),
    AreaLevel.DISTRICT: re.compile(r"\d{2}\.\d{2}\.\d{2}"),
    AreaLevel.VILLAGE: re.compile(r"\d{2}\.\d{2}\.\d{2}\.\d{4}"),
}

CODE_EXAMPLES: Final = {
    AreaLevel.PROVINCE: "64",
    AreaLevel.REGENCY: "64.71",
    AreaLevel.DISTRICT: "64.71.01",
    AreaLevel.VILLAGE: "64.71.01.1001",
}

_LEVEL_LABELS: Final = {
    AreaLevel.PROVINCE: "province",
    AreaLevel.REGENCY: "regency/city",
    AreaLevel.DISTRICT: "kecamatan",
    AreaLevel.VILLAGE: "village",
}


def level_of_code(code: str) -> AreaLevel | None:
    """The level a code's shape denotes, or None if it is not a well-formed area code."""
    for level, pattern in _CODE_PATTERNS.items():
        if pattern.fullmatch(code):
            return level
    return None


def describe_level(level: AreaLevel) -> str:
    """Human label for a level, for error messages ("regency/city", "kecamatan", …)."""
    return _LEVEL_LABELS[level]


@dataclass(frozen=True, slots=True)
class Area:
    """One administrative area. ``parent_code`` is None only for provinces."""

    code: str
    name: str
    level: AreaLevel
    parent_code: str | None


class UnknownAreaError(KeyError, ValueError):
    """A code that is not in the registry (or not at the level the caller asked for).

    A KeyError for mapping-style callers and a ValueError for validation code.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message, quoting it.
        return self.message


class RegistryDataError(ValueError):
    """The registry's source rows are inconsistent (bad code, missing parent, duplicate…)."""


# --- name matching -------------------------------------------------------------------------

# Official names carry a type prefix users usually leave out: "Kota Balikpapan" is "Balikpapan".
# Longer prefixes first so "Kota Administrasi X" strips fully.
_NAME_PREFIXES: Final = {
    AreaLevel.PROVINCE: ("daerah khusus ibukota ", "daerah istimewa "),
    AreaLevel.REGENCY: ("kabupaten administrasi ", "kota administrasi ", "kabupaten ", "kota "),
}
_QUERY_ABBREVIATIONS: Final = (("kab. ", "kabupaten "), ("kab ", "kabupaten "))


def normalise_name(text: str) -> str:
    """Case-folded, whitespace-collapsed form used for name matching."""
    text = unicodedata.normalize("NFKC", text).replace("’", "'")
    return " ".join(text.casefold().split())


def _name_keys(area: Area) -> set[str]:
    full = normalise_name(area.name)
    keys = {full}
    for prefix in _NAME_PREFIXES.get(area.level, ()):
        if full.startswith(prefix):
            keys.add(full[len(prefix) :])
            break
    return keys


def _normalise_query(name: str) -> str:
    query = normalise_name(name)
    for short, long in _QUERY_ABBREVIATIONS:
        if query.startswith(short):
            return long + query[len(short) :]
    return query


# --- immutable index over one group of levels ------------------------------------------------


class _AreaIndex:
    """Code and parent indexes over a fixed set of areas; the name index is built on first use."""

    def __init__(self, areas: Iterable[Area]) -> None:
        by_code: dict[str, Area] = {}
        children: dict[str, list[Area]] = {}
        for area in areas:
            by_code[area.code] = area
            if area.parent_code is not None:
                children.setdefault(area.parent_code, []).append(area)
        self.by_code: Mapping[str, Area] = MappingProxyType(by_code)
        self.children: Mapping[str, tuple[Area, ...]] = MappingProxyType(
            {code: _sorted(kids) for code, kids in children.items()}
        )

    @functools.cached_property
    def by_name(self) -> Mapping[str, tuple[Area, ...]]:
        by_name: dict[str, list[Area]] = {}
        for area in self.by_code.values():
            for key in _name_keys(area):
                by_name.setdefault(key, []).append(area)
        return MappingProxyType({key: tuple(areas) for key, areas in by_name.items()})


def _sorted(areas: Iterable[Area]) -> tuple[Area, ...]:
    return tuple(sorted(areas, key=lambda area: area.code))


def _check_areas(areas: Sequence[Area], known: Mapping[str, Area]) -> Sequence[Area]:
    """Validate code shapes, parent links and uniqueness, parents first; returns ``areas``.

    ``known`` holds areas already accepted (e.g. kecamatan when checking villages). A parent
    code is always the child's code minus its last segment (the Kemendagri scheme), so a
    well-formed parent code found in the registry is also at the right level.
    """
    seen: set[str] = set()
    for area in areas:
        code = area.code
        if not _CODE_PATTERNS[area.level].fullmatch(code):
            raise RegistryDataError(f"{code!r} is not a well-formed {area.level} code")
        if code in seen or code in known:
            raise RegistryDataError(f"duplicate area code {code!r}")
        expected_parent = code.rpartition(".")[0] or None
        if area.parent_code != expected_parent:
            raise RegistryDataError(f"{code!r}: parent must be {expected_parent!r}")
        if expected_parent is not None and not (
            expected_parent in seen or expected_parent in known
        ):
            raise RegistryDataError(f"{code!r}: parent {expected_parent!r} not found")
        if not area.name.strip():
            raise RegistryDataError(f"{code!r} has an empty name")
        seen.add(code)
    return areas


# --- the registry ----------------------------------------------------------------------------

VillageSource = Callable[[], Iterable[Area]]


class AreaRegistry:
    """Lookups over provinces, regencies/cities, kecamatan and (lazily) villages.

    Immutable from the caller's point of view; the only internal state that changes is the
    one-time, thread-safe load of the village table.
    """

    def __init__(self, areas: Iterable[Area], villages: VillageSource | None = None) -> None:
        """``areas``: provinces, regencies, kecamatan (and villages, if no ``villages`` given).

        ``villages``: a callable returning the village areas, called on first village lookup.
        Raises RegistryDataError if the areas are inconsistent (villages: on first lookup).
        """
        upper: list[Area] = []
        eager_villages: list[Area] = []
        for area in areas:
            (eager_villages if area.level is AreaLevel.VILLAGE else upper).append(area)
        if eager_villages and villages is not None:
            raise ValueError("pass villages either in areas or as a loader, not both")
        upper.sort(key=lambda area: area.level.depth)  # parents before children for the checks
        self._upper = _AreaIndex(_check_areas(upper, {}))
        self._village_source: VillageSource = villages or (lambda: eager_villages)
        self._village_index: _AreaIndex | None = None
        self._village_lock = threading.Lock()

    @classmethod
    def from_directory(cls, directory: Path) -> AreaRegistry:
        """Load ``{provinces,regencies,districts,villages}.csv[.gz]`` from a folder."""
        return cls(
            _read_upper_levels(lambda name: _read_table_text(directory, name)),
            villages=lambda: _read_villages(lambda name: _read_table_text(directory, name)),
        )

    # --- village laziness ---

    @property
    def villages_loaded(self) -> bool:
        """Whether the village table has been loaded (for diagnostics and tests)."""
        return self._village_index is not None

    def _villages(self) -> _AreaIndex:
        index = self._village_index
        if index is None:
            with self._village_lock:
                index = self._village_index
                if index is None:
                    rows = self._village_source()
                    index = _AreaIndex(_check_areas(list(rows), self._upper.by_code))
                    self._village_index = index
        return index

    def _index_for_level(self, level: AreaLevel) -> _AreaIndex:
        return self._villages() if level is AreaLevel.VILLAGE else self._upper

    # --- lookups ---

    def get(self, code: str) -> Area | None:
        """The area with this code, or None. Only a village-shaped code loads villages."""
        if not isinstance(code, str):
            return None
        # Hot path of report validation (~15 lookups per report): plain dict hits first, the
        # shape check only decides whether an unknown code is worth loading villages for.
        area = self._upper.by_code.get(code)
        if area is not None:
            return area
        if self._village_index is not None:
            return self._village_index.by_code.get(code)
        if level_of_code(code) is not AreaLevel.VILLAGE:
            return None
        return self._villages().by_code.get(code)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self.get(code) is not None

    def require(self, code: str, level: AreaLevel | str | None = None) -> Area:
        """The area with this code; raises UnknownAreaError if absent or not at ``level``."""
        level = None if level is None else AreaLevel(level)
        area = self.get(code)
        if area is None:
            raise UnknownAreaError(code, _unknown_message(code, level))
        if level is not None and area.level is not level:
            message = (
                f"{code!r} is a {describe_level(area.level)} ({area.name}), "
                f"not a {describe_level(level)}"
            )
            raise UnknownAreaError(code, message)
        return area

    def provinces(self) -> tuple[Area, ...]:
        return _sorted(a for a in self._upper.by_code.values() if a.level is AreaLevel.PROVINCE)

    def children(self, code: str) -> tuple[Area, ...]:
        """Direct children of an existing area (empty for a village), ordered by code."""
        area = self.require(code)
        child_level = area.level.child_level
        if child_level is None:
            return ()
        return self._index_for_level(child_level).children.get(code, ())

    def regencies(self, province_code: str) -> tuple[Area, ...]:
        return self.children(self.require(province_code, AreaLevel.PROVINCE).code)

    def districts(self, regency_code: str) -> tuple[Area, ...]:
        """Kecamatan of a regency/city."""
        return self.children(self.require(regency_code, AreaLevel.REGENCY).code)

    def villages(self, district_code: str) -> tuple[Area, ...]:
        """Villages of a kecamatan."""
        return self.children(self.require(district_code, AreaLevel.DISTRICT).code)

    def parent(self, code: str) -> Area | None:
        """Parent of an existing area (None for a province)."""
        area = self.require(code)
        return None if area.parent_code is None else self.require(area.parent_code)

    def lineage(self, code: str) -> tuple[Area, ...]:
        """The area and its ancestors, province first: (64, 64.71, 64.71.01, …)."""
        chain = [self.require(code)]
        while (parent_code := chain[-1].parent_code) is not None:
            chain.append(self.require(parent_code))
        return tuple(reversed(chain))

    def province_of(self, code: str) -> Area:
        return self.lineage(code)[0]

    def belongs_to(self, code: str, ancestor_code: str) -> bool:
        """True if ``code`` is ``ancestor_code`` or lies inside it; False for unknown codes."""
        if self.get(code) is None or self.get(ancestor_code) is None:
            return False
        # Codes nest by construction (_check_areas: a parent's code is the child's minus its
        # last segment), so a prefix test is the lineage test without walking it.
        return code == ancestor_code or code.startswith(ancestor_code + ".")

    def find_by_name(
        self, name: str, level: AreaLevel | str | None = None, within: str | None = None
    ) -> list[Area]:
        """Areas whose name matches, case- and whitespace-insensitively.

        Regency/city names also match without their "Kabupaten"/"Kota" prefix ("balikpapan"
        finds "Kota Balikpapan"; "Kab. Paser" finds "Kabupaten Paser"). Exact full-name matches
        come first, then prefix-less ones; ties by level (top down) then code. ``within``
        restricts to areas inside that area. Searching villages (``level`` None or village)
        loads the village table.
        """
        query = _normalise_query(name)
        if within is not None:
            self.require(within)
        levels = _LEVEL_ORDER if level is None else (AreaLevel(level),)
        found = [
            area
            for lvl in levels
            for area in self._index_for_level(lvl).by_name.get(query, ())
            if area.level is lvl and (within is None or self.belongs_to(area.code, within))
        ]
        return sorted(
            found,
            key=lambda a: (normalise_name(a.name) != query, a.level.depth, a.code),
        )

    def count(self, level: AreaLevel | str) -> int:
        """Number of areas at a level (loads villages for the village level)."""
        level = AreaLevel(level)
        return sum(1 for a in self._index_for_level(level).by_code.values() if a.level is level)


def _unknown_message(code: str, level: AreaLevel | None) -> str:
    shape = level_of_code(code)
    label = describe_level(level) if level is not None else "area"
    if shape is None:
        expected = CODE_EXAMPLES[level] if level is not None else "64.71"
        return f"{code!r} is not a valid {label} code (expected the dotted form, e.g. {expected})"
    return f"unknown {label} code {code!r}: not in the area registry"


# --- CSV files -------------------------------------------------------------------------------

TABLE_FILES: Final = {
    AreaLevel.PROVINCE: "provinces",
    AreaLevel.REGENCY: "regencies",
    AreaLevel.DISTRICT: "districts",
    AreaLevel.VILLAGE: "villages",
}
TABLE_HEADERS: Final = {
    AreaLevel.PROVINCE: ("code", "name"),
    AreaLevel.REGENCY: ("code", "province_code", "name"),
    AreaLevel.DISTRICT: ("code", "regency_code", "name"),
    AreaLevel.VILLAGE: ("code", "district_code", "name"),
}

TextReader = Callable[[str], str]


def _read_table_text(directory: Path, table: str) -> str:
    """Text of ``table``.csv.gz, falling back to plain ``table``.csv."""
    gz_path = directory / f"{table}.csv.gz"
    if gz_path.exists():
        return gzip.decompress(gz_path.read_bytes()).decode("utf-8")
    return (directory / f"{table}.csv").read_text(encoding="utf-8")


def parse_table(level: AreaLevel, text: str) -> list[Area]:
    """Parse one CSV table (header checked) into areas of ``level``."""
    rows = csv.reader(io.StringIO(text, newline=""))
    header = tuple(next(rows, ()))
    if header != TABLE_HEADERS[level]:
        raise RegistryDataError(f"{TABLE_FILES[level]}: expected header {TABLE_HEADERS[level]}")
    body = list(rows)
    try:
        if level is AreaLevel.PROVINCE:
            return [Area(code, name, level, None) for code, name in body]
        return [Area(code, name, level, parent) for code, parent, name in body]
    except ValueError:  # a row of the wrong width; find it only on this slow path
        bad = next(n for n, row in enumerate(body, start=2) if len(row) != len(header))
        message = f"{TABLE_FILES[level]} line {bad}: expected {len(header)} columns"
        raise RegistryDataError(message) from None


def _read_upper_levels(read: TextReader) -> list[Area]:
    upper = (AreaLevel.PROVINCE, AreaLevel.REGENCY, AreaLevel.DISTRICT)
    return [area for level in upper for area in parse_table(level, read(TABLE_FILES[level]))]


def _read_villages(read: TextReader) -> list[Area]:
    return parse_table(AreaLevel.VILLAGE, read(TABLE_FILES[AreaLevel.VILLAGE]))


# Located by file path rather than importlib.resources("schemas"): a tests/schemas folder on
# sys.path can shadow the package name, but never this module's own location.
PACKAGED_DATA_DIR: Final = Path(__file__).resolve().parent / "data"


@functools.lru_cache(maxsize=1)
def default_registry() -> AreaRegistry:
    """The registry shipped in ``schemas/data`` (idn-area-data 4.0.1, ODbL). Cached."""
    return AreaRegistry.from_directory(PACKAGED_DATA_DIR)
