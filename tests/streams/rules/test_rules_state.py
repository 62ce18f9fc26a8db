"""What the rule engine stores per group, and the decoded states it keeps between batches."""

from __future__ import annotations

from streams.rules.state import DecodedGroups, Evidence, GroupState


def _group(minutes: range, area: str = "64.71") -> GroupState:
    state = GroupState(area, since=0)
    for minute in minutes:
        state.add(Evidence(minute, f"r-{minute}", tiers=3))
    return state


def test_a_state_is_reused_only_while_the_stored_bytes_are_the_same() -> None:
    decoded = DecodedGroups()
    state = _group(range(10))
    raw = state.encode()
    for _ in range(2):  # decoded, then from memory
        handed_out = decoded.decode("freq|64.71", raw)
        assert handed_out.encode() == raw
        handed_out.add(Evidence(11, "r-11", tiers=1))  # a batch changes it, then fails
        handed_out.prune(5)
    assert decoded.decode("freq|64.71", raw).encode() == raw
    newer = _group(range(20)).encode()  # another worker stored a newer version
    assert decoded.decode("freq|64.71", newer).encode() == newer


def test_copies_do_not_share_a_change() -> None:
    original = _group(range(5))
    copy = original.copy()
    copy.add(Evidence(3, "r-x", tiers=1))
    copy.prune(2)
    assert original.buckets[3] == [1, 1]
    assert copy.buckets[3] == [2, 1]
    assert len(original.evidence) == 5
    assert 0 in original.buckets


def test_memory_is_bounded_by_the_buckets_kept() -> None:
    decoded = DecodedGroups(max_buckets=250)
    for number in range(10):
        state = _group(range(100), area=f"64.{number:02d}")
        decoded.remember(f"spike|64.{number:02d}", state.encode(), state)
    assert len(decoded) == 2  # the two most recent; 100 buckets each
    decoded.forget("spike|64.09")
    assert len(decoded) == 1


def test_late_minutes_are_stored_in_minute_order_as_before() -> None:
    """The stored bytes must not depend on the order reports arrived in (a replay, another
    worker): the buckets are written in minute order, the same bytes as a sorted encoding."""
    in_order, late = GroupState("64.71", since=0), GroupState("64.71", since=0)
    for minute in (29_400_003, 29_400_005, 29_400_005, 29_400_009):
        in_order.add(Evidence(minute, f"r-{minute}", tiers=1))
    for minute in (29_400_009, 29_400_005, 29_400_003, 29_400_005):
        late.add(Evidence(minute, f"r-{minute}", tiers=1))
    raw = late.encode()
    assert raw.index(b'"29400003"') < raw.index(b'"29400005"') < raw.index(b'"29400009"')
    assert GroupState.decode(raw).buckets == in_order.buckets
    assert [list(state.buckets) for state in (in_order, late)] == [
        [29_400_003, 29_400_005, 29_400_009]
    ] * 2
    assert raw == in_order.encode()
