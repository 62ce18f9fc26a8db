"""Which partition a regency key goes to: Kafka's default partitioner."""

from __future__ import annotations

from streams.partitions import partition_for_key


def test_partition_for_key_is_the_java_producers() -> None:
    # murmur2 values of Kafka's own UtilsTest; the Java producer takes the positive part
    # (& 0x7fffffff) modulo the partition count.
    for key, java_murmur2 in (("21", -973932308), ("foobar", -790332482), ("abc", 479470107)):
        for partitions in (6, 12, 7):
            assert partition_for_key(key, partitions) == (java_murmur2 & 0x7FFFFFFF) % partitions
