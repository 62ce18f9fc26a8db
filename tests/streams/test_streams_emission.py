"""Which areas an emit tick renders: debounce, heartbeats per area, the cap on time work; and
the changed areas sent between ticks as their debounce ends."""

from __future__ import annotations

import itertools

from streams.emission import ChangedQueue, Due, Why, plan_emit

AREAS = [f"64.{n:02d}" for n in range(1, 11)]


def plan(
    *,
    dirty: set[str] | None = None,
    time_pending: set[str] | None = None,
    sent: dict[str, float] | None = None,
    wall: float = 1_000.0,
    budget: int | None = 200,
    heartbeat_s: float = 60.0,
):
    sent_at = {code: 990.0 for code in AREAS} if sent is None else sent
    return plan_emit(
        AREAS,
        dirty=dirty or set(),
        time_pending=time_pending or set(),
        last_sent=sent_at.get,
        wall=wall,
        interval_s=1.0,
        heartbeat_s=heartbeat_s,
        budget=budget,
    )


def test_quiet_areas_sent_recently_are_left_alone() -> None:
    assert plan().due == ()


def test_a_changed_area_goes_out_once_its_debounce_has_passed() -> None:
    sent = {code: 990.0 for code in AREAS} | {"64.03": 999.5}
    result = plan(dirty={"64.02", "64.03"}, sent=sent)
    assert result.due == (Due("64.02", Why.CHANGED),)  # 64.03 sent 0.5 s ago: waits


def test_a_changed_area_inside_its_debounce_still_gets_its_heartbeat() -> None:
    sent = {code: 990.0 for code in AREAS} | {"64.03": 999.5}
    result = plan(dirty={"64.03"}, sent=sent, heartbeat_s=0.2)
    assert Due("64.03", Why.HEARTBEAT) in result.due


def test_heartbeats_are_due_per_area_after_its_own_last_record() -> None:
    sent = {code: 990.0 for code in AREAS} | {"64.01": 930.0, "64.05": 940.0}
    assert plan(sent=sent).due == (Due("64.01", Why.HEARTBEAT), Due("64.05", Why.HEARTBEAT))


def test_areas_never_sent_are_due_at_once() -> None:
    assert plan(sent={}).due == tuple(Due(code, Why.HEARTBEAT) for code in AREAS)


def test_time_pending_areas_are_rendered_to_compare() -> None:
    assert plan(time_pending={"64.04"}).due == (Due("64.04", Why.TIME),)


def test_the_cap_spreads_time_work_over_ticks_but_never_holds_back_changes() -> None:
    result = plan(sent={}, dirty={"64.09"}, budget=3)
    assert [d.code for d in result.due] == ["64.01", "64.02", "64.03", "64.09"]
    assert result.due[-1].why is Why.CHANGED
    assert result.budget_left == 0


def test_the_budget_left_carries_to_the_next_partition() -> None:
    first = plan(time_pending={"64.01", "64.02"}, budget=5)
    assert first.budget_left == 3
    second = plan(time_pending=set(AREAS), budget=first.budget_left)
    assert [d.code for d in second.due] == ["64.01", "64.02", "64.03"]


def test_no_cap_renders_everything_due() -> None:
    result = plan(sent={}, budget=None, heartbeat_s=0.0)
    assert len(result.due) == len(AREAS)
    assert result.budget_left is None


def test_ticks_with_the_cap_get_round_every_area() -> None:
    """What the worker does: render what is due, record it as sent, next tick."""
    sent: dict[str, float] = {}
    ticks = 0
    while len(sent) < len(AREAS):
        wall = 1_000.0 + ticks * 0.1
        for due in plan(sent=sent, wall=wall, budget=3).due:
            sent[due.code] = wall
        ticks += 1
    assert ticks == 4  # 10 areas, 3 a tick


class _Sender:
    """The worker's side of the queue: what changed, what it sent when."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.queue = ChangedQueue()
        self.dirty: set[str] = set()
        self.sent: dict[str, float] = {}
        self.records: list[tuple[float, str]] = []

    def change(self, code: str) -> None:
        self.dirty.add(code)
        self.queue.add(code, self.sent.get(code), self.interval_s)

    def send(self, code: str, wall: float) -> None:
        self.dirty.discard(code)
        self.sent[code] = wall
        self.records.append((wall, code))

    def send_due(self, wall: float) -> list[str]:
        due = self.queue.pop_due(
            wall, dirty=self.dirty, last_sent=self.sent.get, interval_s=self.interval_s
        )
        for code in due:
            self.send(code, wall)
        return due


def test_a_changed_area_goes_out_the_moment_its_debounce_ends() -> None:
    sender = _Sender(0.25)
    sender.change("64.01")  # never sent: due at once
    assert sender.queue.next_due() == float("-inf")
    assert sender.send_due(10.0) == ["64.01"]
    for _ in range(3):  # changes inside the debounce (at 10.05, 10.1, 10.2): queued once
        sender.change("64.01")
    assert len(sender.queue) == 1
    assert sender.queue.next_due() == 10.25
    assert sender.send_due(10.2499) == []
    assert sender.send_due(10.25) == ["64.01"]
    assert sender.queue.next_due() is None


def test_areas_come_out_in_the_order_their_debounce_ends() -> None:
    sender = _Sender(1.0)
    sender.send("64.02", 5.0)
    sender.send("64.01", 5.5)
    sender.change("64.01")  # queued first, due later (6.5)
    sender.change("64.02")  # due 6.0
    sender.change("64.03")  # never sent
    assert sender.send_due(5.6) == ["64.03"]
    assert sender.send_due(7.0) == ["64.02", "64.01"]


def test_an_area_the_timer_sent_meanwhile_waits_for_its_new_debounce() -> None:
    sender = _Sender(1.0)
    sender.send("64.01", 5.0)
    sender.change("64.01")  # due 6.0
    sender.send("64.01", 5.9)  # the emit timer (a heartbeat, say) sent it first
    assert sender.send_due(6.0) == []  # nothing changed since: dropped
    assert sender.queue.next_due() is None
    sender.send("64.02", 5.0)
    sender.change("64.02")  # due 6.0
    sender.send("64.02", 5.9)
    sender.change("64.02")  # changed again after that send: already queued, still due
    assert sender.send_due(6.0) == []  # ... but only once its new debounce has passed
    assert sender.send_due(6.8999) == []
    assert sender.send_due(6.9) == ["64.02"]


def test_a_busy_area_is_sent_once_per_debounce_interval_exactly() -> None:
    """Changes every 10 ms, the sender woken at each: one record each 250 ms, never sooner."""
    sender = _Sender(0.25)
    for step in range(1, 301):
        wall = 100.0 + step * 0.01
        sender.change("64.01")
        sender.send_due(wall)
        due = sender.queue.next_due()
        assert due is None or due > wall  # nothing left waiting that is due
    times = [wall for wall, _ in sender.records]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) == 12  # 3 s of changes
    assert min(gaps) >= 0.25 - 1e-9 and max(gaps) < 0.25 + 0.01 + 1e-9


def test_clear_forgets_everything_queued() -> None:
    sender = _Sender(1.0)
    sender.change("64.01")
    sender.queue.clear()
    assert sender.queue.next_due() is None
    assert sender.send_due(100.0) == []
