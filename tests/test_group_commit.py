"""Group commit: pure logic, with a flush function the test controls."""
import threading
import time

import pytest

from tasks.group_commit import GroupCommit


def test_a_lone_item_is_flushed_at_once():
    commit = GroupCommit(lambda items: ([f"stored {i}" for i in items], "shared"))

    assert commit.submit("a") == ("stored a", "shared")


def test_items_arriving_during_a_flush_share_the_next_one():
    groups, first_flush_started, release = [], threading.Event(), threading.Event()

    def flush(items):
        groups.append(list(items))
        if len(groups) == 1:
            first_flush_started.set()
            release.wait(5)
        return [i * 10 for i in items], None

    commit = GroupCommit(flush)
    results = {}
    threads = [threading.Thread(target=lambda n=n: results.update({n: commit.submit(n)}))
               for n in range(1, 6)]
    threads[0].start()
    first_flush_started.wait(5)
    for thread in threads[1:]:
        thread.start()
    while commit._waiting.qsize() < 4:  # the four later items queue behind the first flush
        time.sleep(0.001)
    release.set()
    for thread in threads:
        thread.join(5)

    assert len(groups) == 2
    assert groups[0] == [1] and sorted(groups[1]) == [2, 3, 4, 5]
    assert {n: r for n, (r, _) in results.items()} == {n: n * 10 for n in range(1, 6)}


def test_a_failed_flush_fails_every_item_of_its_group():
    def flush(items):
        raise ConnectionError("redis away")

    commit = GroupCommit(flush)
    with pytest.raises(ConnectionError):
        commit.submit("a")


def test_items_arriving_within_the_window_share_a_group():
    groups = []

    def flush(items):
        groups.append(list(items))
        return list(items), None

    commit = GroupCommit(flush, window=0.5)
    threads = [threading.Thread(target=commit.submit, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
        time.sleep(0.01)
    for thread in threads:
        thread.join(5)

    assert [sorted(group) for group in groups] == [[0, 1, 2]]


def test_an_urgent_item_is_stored_alone_by_its_own_thread():
    flushed = []

    def flush(items):
        flushed.append((list(items), threading.get_ident()))
        return list(items), None

    commit = GroupCommit(flush, window=0.3, urgent=lambda item: item == "urgent")
    grouped = threading.Thread(target=commit.submit, args=("normal",))
    grouped.start()

    assert commit.submit("urgent") == ("urgent", None)
    grouped.join(5)

    assert (["urgent"], threading.get_ident()) in flushed
    assert [items for items, _ in flushed if items != ["urgent"]] == [["normal"]]


def test_a_full_group_goes_without_waiting_out_the_window():
    # max_group is the API process's thread count: once every thread waits in the group,
    # no request is left to join it.
    groups = []

    def flush(items):
        groups.append(list(items))
        return list(items), None

    commit = GroupCommit(flush, window=60.0, max_group=3)
    threads = [threading.Thread(target=commit.submit, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)

    assert not any(thread.is_alive() for thread in threads)
    assert [sorted(group) for group in groups] == [[0, 1, 2]]
