"""Group commit (webhook_app/group_commit.py) with real threads: callers that arrive while a batch
is being written are written together next, each gets its own outcome, and errors reach every caller."""
import threading
import time

import pytest

from webhook_app.webhooks.group_commit import GroupCommit


class Gate:
    """A flush that records its batches and holds the first one until released."""

    def __init__(self, fail_on=None):
        self.batches: list[list] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items):
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.entered.set()
            assert self.release.wait(10)
        if self.fail_on is not None and self.fail_on in items:
            raise ConnectionError("database went away")
        return [ValueError(f"bad {item}") if item == "bad" else f"stored {item}" for item in items]


def run_together(group, gate, first, others):
    """Submit `first`, and once its flush has started, submit `others` from their own threads."""
    results: dict = {}

    def call(item):
        try:
            results[item] = group.submit(item)
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            results[item] = exc

    threads = [threading.Thread(target=call, args=(first,))]
    threads[0].start()
    assert gate.entered.wait(10)
    for item in others:
        thread = threading.Thread(target=call, args=(item,))
        thread.start()
        threads.append(thread)
    while len(group._queue) < len(others):  # wait until all of them queue behind the first flush
        threading.Event().wait(0.005)
    gate.release.set()
    for thread in threads:
        thread.join(10)
    return results


def test_callers_arriving_during_a_flush_are_written_together_each_with_its_outcome():
    gate = Gate()
    group = GroupCommit(gate)
    results = run_together(group, gate, "a", ["b", "c", "d", "bad"])
    assert gate.batches[0] == ["a"]
    assert sorted(gate.batches[1]) == ["b", "bad", "c", "d"]  # one flush for all four
    assert len(gate.batches) == 2
    assert results["a"] == "stored a" and results["c"] == "stored c"
    assert isinstance(results["bad"], ValueError)  # one item's error is that caller's alone


def test_a_failed_flush_reaches_every_caller_in_it_and_the_next_batch_still_runs():
    gate = Gate(fail_on="c")
    group = GroupCommit(gate)
    results = run_together(group, gate, "a", ["b", "c"])
    assert results["a"] == "stored a"
    assert isinstance(results["b"], ConnectionError) and isinstance(results["c"], ConnectionError)
    assert group.submit("e") == "stored e"  # the group is not stuck after a failure


def test_batches_are_capped():
    gate = Gate()
    group = GroupCommit(gate, max_batch=2)
    results = run_together(group, gate, "a", ["b", "c", "d", "e", "f"])
    assert [len(batch) for batch in gate.batches] == [1, 2, 2, 1]
    assert all(results[item] == f"stored {item}" for item in "abcdef")


def test_a_lone_caller_is_written_at_once():
    flushed = []
    group = GroupCommit(lambda items: flushed.append(items) or ["ok"] * len(items))
    assert group.submit("x") == "ok" and flushed == [["x"]]
    with pytest.raises(RuntimeError):
        GroupCommit(lambda items: []).submit("y")  # a flush that loses an outcome is an error, not a hang


def test_after_a_big_batch_the_first_caller_back_waits_for_the_rest_of_the_convoy():
    gate = Gate()
    group = GroupCommit(gate, linger=0.5, busy_batch=2)
    run_together(group, gate, "a", ["b", "c"])  # a batch of two: the group counts as busy
    assert [sorted(batch) for batch in gate.batches] == [["a"], ["b", "c"]]
    results: dict = {}
    first = threading.Thread(target=lambda: results.setdefault("x", group.submit("x")))
    first.start()
    threading.Event().wait(0.1)  # well inside the linger: x is waiting, not written
    assert len(gate.batches) == 2
    results["y"] = group.submit("y")  # arrives while x lingers, so the two share one flush
    first.join(10)
    assert sorted(gate.batches[2]) == ["x", "y"] and len(gate.batches) == 3
    assert results == {"x": "stored x", "y": "stored y"}


def test_a_quiet_group_never_lingers():
    written = []
    group = GroupCommit(lambda items: written.append(items) or ["ok"] * len(items), linger=30, busy_batch=2)
    started = time.monotonic()
    for item in "abc":  # batches of one: never busy, so each is written at once
        assert group.submit(item) == "ok"
    assert written == [["a"], ["b"], ["c"]]
    assert time.monotonic() - started < 10  # one linger alone would have taken 30 s


class Killed(BaseException):
    """An asynchronous exception, as gevent's kill or a worker timeout raises inside a sleep."""


def test_a_leader_killed_during_its_linger_hands_over_and_no_caller_hangs():
    import signal

    flushed: list[list] = []
    group = GroupCommit(lambda items: flushed.append(list(items)) or [f"stored {i}" for i in items],
                        linger=1.0, busy_batch=1)
    group.submit("warm-up")  # a batch of one: the next leader lingers (busy_batch=1)
    results: dict = {}

    def call(item):
        results[item] = group.submit(item)

    def kill(signum, frame):
        raise Killed()

    others = [threading.Thread(target=call, args=(f"caller-{i}",), daemon=True) for i in range(3)]
    previous = signal.signal(signal.SIGALRM, kill)
    timer = threading.Timer(0.05, lambda: [t.start() for t in others])
    timer.start()
    signal.setitimer(signal.ITIMER_REAL, 0.3)  # the leader (this thread) is killed mid-linger
    try:
        with pytest.raises(Killed):
            group.submit("leader")
    finally:
        signal.signal(signal.SIGALRM, previous)
    for thread in others:
        thread.join(5)
    assert not any(t.is_alive() for t in others), "callers were left waiting for a leader that died"
    assert results == {f"caller-{i}": f"stored caller-{i}" for i in range(3)}
    assert "leader" not in [item for batch in flushed for item in batch]
    assert group.submit("after") == "stored after"  # and the group goes on


def test_waiters_behind_a_flush_that_never_ends_get_database_unavailable_by_their_deadline():
    from webhook_app.exceptions import DatabaseUnavailable

    gate = Gate()
    group = GroupCommit(gate, deadline=0.3)
    started = time.monotonic()
    results = {}

    def call(item):
        try:
            results[item] = group.submit(item)
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            results[item] = exc

    first = threading.Thread(target=call, args=("stuck",), daemon=True)
    first.start()
    assert gate.entered.wait(5)
    waiting = [threading.Thread(target=call, args=(f"w{i}",), daemon=True) for i in range(3)]
    for thread in waiting:
        thread.start()
    for thread in waiting:
        thread.join(5)
    assert time.monotonic() - started < 3
    assert all(isinstance(results[f"w{i}"], DatabaseUnavailable) for i in range(3)), results
    gate.release.set()
    first.join(5)
    assert results["stuck"] == "stored stuck"
    assert group.submit("next") == "stored next"  # nothing was left half-led
