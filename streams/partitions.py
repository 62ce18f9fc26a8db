"""Which partition an area lives in: the one its regency code is keyed to.

Producers key ``sitrep.reports`` by regency code with Kafka's default partitioner (murmur2 of
the key bytes, as the Java client and kafka-python do), so the worker that owns a partition owns
that regency, its kecamatan and their incidents. Areas that never reported are placed the same
way, so their silence is watched by the right worker.
"""

from __future__ import annotations

from kafka.partitioner.default import murmur2

from schemas.registry import AreaRegistry

__all__ = ["area_partition", "expected_areas", "partition_for_key"]


def partition_for_key(key: str, partitions: int) -> int:
    digest: int = murmur2(key.encode())
    return (digest & 0x7FFFFFFF) % partitions


def area_partition(code: str, partitions: int) -> int:
    """The partition of a regency or kecamatan: its regency's."""
    return partition_for_key(".".join(code.split(".")[:2]), partitions)


def expected_areas(
    registry: AreaRegistry, province_code: str, partitions: int
) -> dict[int, list[str]]:
    """Regency and kecamatan codes of the province, by the partition that owns them."""
    by_partition: dict[int, list[str]] = {}
    for regency in registry.regencies(province_code):
        codes = [regency.code, *(d.code for d in registry.districts(regency.code))]
        by_partition.setdefault(partition_for_key(regency.code, partitions), []).extend(codes)
    return by_partition
