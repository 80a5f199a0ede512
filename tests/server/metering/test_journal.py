"""The write-ahead journal: what a dead process started and never recorded is recovered, and nothing else."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import MISSING, fields, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payi_server.metering.event import Attribution, Event, Payload, Units
from payi_server.metering.journal import (
    _File,
    Journal,
    Recovered,
    event_from_json,
    event_to_json,
    finish_recovery,
    recover,
)

ESTIMATE: Units = {"text": {"input": 120, "output": 4096}}
SECRET_PROMPT = "the secret prompt that must never reach the journal"


def full_attribution() -> Attribution:
    return Attribution(
        limit_ids=["budget-a", "budget-b"],
        use_case_name="support_bot",
        use_case_id="uc-1",
        use_case_version=7,
        use_case_step="draft",
        use_case_properties={"tier": "gold", "empty": None},
        user_id="user-9",
        account_name="acme",
        resource_scope="global",
        price_as_category="system.openai",
        price_as_resource="gpt-4o-mini",
        properties={"team": "search", "none": None, "unicode": "naïve ✓ 漢字"},
        request_tags=["a", "b"],
        logging_disabled=True,
        instrumented_module="payi.instrument.openai",
    )


def full_event(**changes: object) -> Event:
    event = Event(
        source="proxy",
        category="system.openai",
        resource="gpt-4o",
        units={},
        event_timestamp=datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        attribution=full_attribution(),
        http_status_code=200,
        end_to_end_latency_ms=None,
        time_to_first_token_ms=None,
        time_to_first_completion_token_ms=None,
        provider_response_id=None,
        provider_uri="https://api.openai.com/v1/chat/completions",
        payload=Payload(provider_request_json=SECRET_PROMPT),
        blocked=False,
    )
    return replace(event, **changes)  # type: ignore[arg-type]


def answer_event() -> Event:
    return full_event(
        resource="gpt-4o-2024-08-06",
        units={"text": {"input": 118, "output": 57}, "text_cache_read": {"input": 64}},
        http_status_code=201,
        provider_response_id="chatcmpl-123",
        end_to_end_latency_ms=812,
        time_to_first_token_ms=95,
        time_to_first_completion_token_ms=140,
        payload=Payload(provider_response_json="the secret answer"),
    )


def crash(journal: Journal) -> None:
    """What a kill -9 leaves: the files as written, their locks released."""
    journal.close(clean=False)


@pytest.fixture
def journal_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "journal"
    yield directory
    finish_recovery(directory)


def files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


# --- the event's JSON form ----------------------------------------------------------------------------------
def test_every_attribution_field_is_set_in_the_fixture() -> None:
    attribution = full_attribution()
    for field in fields(Attribution):
        default = field.default_factory() if field.default_factory is not MISSING else field.default
        assert getattr(attribution, field.name) != default, field.name


@pytest.mark.parametrize(
    "timestamp",
    [
        datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC),
        datetime(2025, 3, 4, 5, 6, 7, 1, tzinfo=timezone(timedelta(hours=-3, seconds=7))),
        datetime(2025, 3, 4, 5, 6, 7),  # naive stays naive
    ],
)
def test_event_round_trip_is_exact(timestamp: datetime) -> None:
    event = full_event(
        event_timestamp=timestamp,
        units={"text": {"input": 2**62, "output": 0}},
        http_status_code=None,
        end_to_end_latency_ms=0,
        blocked=True,
        payload=None,
    )
    back = event_from_json(orjson.loads(orjson.dumps(event_to_json(event))))
    assert back == event
    assert back.event_timestamp.utcoffset() == timestamp.utcoffset()
    assert back.event_timestamp.tzinfo is None if timestamp.tzinfo is None else back.event_timestamp.tzinfo is not None


def test_event_json_has_no_payload() -> None:
    data = event_to_json(full_event())
    assert "payload" not in data
    assert SECRET_PROMPT not in orjson.dumps(data).decode()
    assert event_from_json(data) == full_event(payload=None)


def test_event_with_defaults_round_trips() -> None:
    event = Event(
        source="ingest", category="c", resource="r", units={}, event_timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        attribution=Attribution(),
    )
    assert event_from_json(orjson.loads(orjson.dumps(event_to_json(event)))) == event


# --- started / answered / done -> recover -------------------------------------------------------------------
def test_answered_call_is_recovered_with_its_real_outcome(journal_dir: Path) -> None:
    journal = Journal.open(journal_dir, 3, fsync_interval=None)
    journal.started(1001, 11, 22, full_event(), ESTIMATE)
    journal.answered(1001, answer_event())
    raw = journal.path.read_bytes()
    assert SECRET_PROMPT.encode() not in raw and b"the secret answer" not in raw
    crash(journal)

    [call] = recover(journal_dir)
    assert (call.request_id, call.app_id, call.org_id) == (1001, 11, 22)
    assert call.answered and not call.cut_off
    assert call.estimate_units == ESTIMATE
    assert call.event == replace(answer_event(), payload=None)
    assert call.event.event_timestamp.utcoffset() == timedelta(hours=5, minutes=30)


def test_answer_may_change_resource_scope(journal_dir: Path) -> None:
    journal = Journal.open(journal_dir, 3, fsync_interval=None)
    started = full_event(attribution=Attribution(limit_ids=["x"]))
    answered = full_event(attribution=Attribution(limit_ids=["x"], resource_scope="datazone"), units={"t": {"input": 1}})
    journal.started(5, 1, 1, started, ESTIMATE)
    journal.answered(5, answered)
    crash(journal)
    [call] = recover(journal_dir)
    assert call.event.attribution == Attribution(limit_ids=["x"], resource_scope="datazone")


def test_started_only_call_is_recovered_with_its_estimate_and_marked_cut_off(journal_dir: Path) -> None:
    journal = Journal.open(journal_dir, 3, fsync_interval=None)
    journal.started(1002, 11, 22, full_event(), ESTIMATE)
    crash(journal)

    [call] = recover(journal_dir)
    assert call.request_id == 1002 and not call.answered and call.cut_off
    assert call.event == full_event(units=ESTIMATE, payload=None)
    assert call.event.units is not call.estimate_units  # the caller may change one without the other
    assert call.path.parent == journal_dir


def test_done_calls_are_not_recovered(journal_dir: Path) -> None:
    journal = Journal.open(journal_dir, 3, fsync_interval=None)
    for request_id in (1, 2, 3, 4):
        journal.started(request_id, 11, 22, full_event(), ESTIMATE)
    journal.answered(2, answer_event())
    journal.done([1, 2])
    journal.done([99])  # never started here (an ingest call): ignored
    journal.done([])
    assert journal.open_ids == {3, 4}
    crash(journal)

    assert [call.request_id for call in recover(journal_dir)] == [3, 4]
    assert finish_recovery(journal_dir) == [journal_dir / f"journal-3-{os.getpid()}.log"]
    assert files(journal_dir) == []


def test_answered_or_done_for_unknown_ids_writes_nothing(journal_dir: Path) -> None:
    journal = Journal.open(journal_dir, 3, fsync_interval=None)
    size = journal.path.stat().st_size
    journal.answered(77, answer_event())
    journal.done([77])
    assert journal.path.stat().st_size == size
    journal.close(clean=True)


def test_torn_last_line_is_ignored(journal_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    journal = Journal.open(journal_dir, 3, fsync_interval=None)
    journal.started(1, 11, 22, full_event(), ESTIMATE)
    journal.started(2, 11, 22, full_event(), ESTIMATE)
    path = journal.path
    crash(journal)
    data = path.read_bytes()
    path.write_bytes(data[:-25])  # the process died in the middle of writing call 2's line

    with caplog.at_level(logging.WARNING, logger="payi_server.journal"):
        calls = recover(journal_dir)
    assert [call.request_id for call in calls] == [1]
    assert "torn last line" in caplog.text


def test_last_line_without_its_newline_is_kept(journal_dir: Path) -> None:
    journal = Journal.open(journal_dir, 3, fsync_interval=None)
    journal.started(1, 11, 22, full_event(), ESTIMATE)
    path = journal.path
    crash(journal)
    path.write_bytes(path.read_bytes()[:-1])
    assert [call.request_id for call in recover(journal_dir)] == [1]


def test_unreadable_lines_are_skipped(journal_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    # written with os.write, so that the garbage appended here lands between the two calls' lines
    journal = Journal.open(journal_dir, 3, fsync_interval=None, mapped=False)
    journal.started(1, 11, 22, full_event(), ESTIMATE)
    path = journal.path
    with path.open("ab") as out:
        out.write(b"\x00\xff garbage\n[1, 2]\n{\"k\": \"s\", \"id\": 5}\n{\"k\": \"zz\"}\n{\"k\": \"d\", \"ids\": 3}\n")
    journal.started(2, 11, 22, full_event(), ESTIMATE)  # after the garbage: still read
    crash(journal)
    with caplog.at_level(logging.WARNING, logger="payi_server.journal"):
        calls = recover(journal_dir)
    assert [call.request_id for call in calls] == [1, 2]
    assert "unreadable line" in caplog.text
    assert "cannot rebuild call 5" in caplog.text
    assert "unknown kind" in caplog.text
    assert "malformed 'd' record" in caplog.text


def test_strings_orjson_refuses_round_trip(journal_dir: Path) -> None:
    journal = Journal.open(journal_dir, 3, fsync_interval=None)
    event = full_event(attribution=Attribution(user_id="lone \ud800 surrogate", properties={"k": "\udfff"}))
    journal.started(1, 11, 22, event, {"text": {"input": 2**70}})
    crash(journal)
    [call] = recover(journal_dir)
    assert call.event.attribution == event.attribution
    assert call.event.units == {"text": {"input": 2**70}}


def test_a_failed_write_does_not_break_the_next_line(journal_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal.open(journal_dir, 3, fsync_interval=None, mapped=False)
    real_write = os.write
    calls = {"n": 0}

    def half_then_full(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:  # the disk fills up in the middle of a line
            return real_write(fd, data[: len(data) // 2])
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_full)
    journal.started(1, 11, 22, full_event(), ESTIMATE)  # torn: never journaled
    journal.started(2, 11, 22, full_event(), ESTIMATE)
    monkeypatch.undo()
    assert journal.write_errors == 1 and journal.open_ids == {2}
    crash(journal)
    assert [call.request_id for call in recover(journal_dir)] == [2]


# --- the memory map ------------------------------------------------------------------------------------------
def test_a_mapped_journal_of_a_dead_process_is_recovered_through_its_nul_tail(
    journal_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What ``kill -9`` leaves of a mapped journal: its lines, then NUL bytes to the end of the space it allocated
    (nothing truncates it). Recovery reads the lines and ignores the NUL bytes, a torn last line included."""
    journal = Journal.open(journal_dir, 3, fsync_interval=None)
    journal.started(1, 11, 22, full_event(), ESTIMATE)
    journal.answered(1, answer_event())
    journal.started(2, 11, 22, full_event(), ESTIMATE)
    path = journal.path
    live = path.read_bytes()  # as the page cache holds it while the process lives
    assert live.endswith(b"\x00" * 1024), "the journal is not mapped"
    lines = live.rstrip(b"\x00")
    assert lines.count(b"\n") == 4 and lines.endswith(b"\n")  # header, start, answer, start
    crash(journal)  # releases the lock (and truncates the file)
    assert path.read_bytes() == lines

    path.write_bytes(live)  # the file as a killed process leaves it
    with caplog.at_level(logging.WARNING, logger="payi_server.journal"):
        calls = recover(journal_dir)
    assert "torn" not in caplog.text and "unreadable" not in caplog.text  # the NUL bytes are no line
    assert [call.request_id for call in calls] == [1, 2]
    assert calls[0].answered and calls[1].cut_off
    finish_recovery(journal_dir)

    torn = lines[:-25]  # killed while copying call 2's line into the map
    path.write_bytes(torn + b"\x00" * (len(live) - len(torn)))
    with caplog.at_level(logging.WARNING, logger="payi_server.journal"):
        assert [call.request_id for call in recover(journal_dir)] == [1]
    assert "torn last line" in caplog.text


def test_a_file_written_past_its_map_goes_on_with_os_write(tmp_path: Path) -> None:
    """A line that does not fit in the map: the file is cut to what was written and appended to from then on, so
    it holds exactly the lines, in order, with no NUL bytes between them. Pages written a megabyte back leave the
    process's memory."""
    path = tmp_path / "f.log"
    file = _File(seq=0, path=path, fd=os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600))
    file.map(3 * 1024 * 1024)
    assert file.mm is not None
    lines = [(b"%06d" % n) * 170 + b"\n" for n in range(2500)]  # 1,021 bytes each, 2.4 MiB in all
    for line in lines:
        assert file.put(line) == len(line)
    assert file.mm is not None and file.released >= 1024 * 1024  # still mapped; the oldest pages handed back
    big = b"x" * (1024 * 1024) + b"\n"  # crosses the end of the map
    assert file.put(big) == len(big)
    assert file.mm is None
    assert file.put(b"last\n") == 5
    file.close()
    assert path.read_bytes() == b"".join(lines) + big + b"last\n"


def test_a_journal_mapped_or_not_writes_the_same_lines(tmp_path: Path) -> None:
    """Rotation, carried calls and done lines come out the same with the map and without it."""
    contents = []
    for mapped in (True, False):
        directory = tmp_path / str(mapped)
        journal = Journal.open(directory, 3, max_bytes=3000, fsync_interval=None, mapped=mapped)
        for request_id in range(1, 40):
            journal.started(request_id, 11, 22, full_event(), ESTIMATE)
            if request_id % 3:
                journal.answered(request_id, answer_event())
            if request_id % 5 == 0:
                journal.done(range(request_id - 4, request_id - 1))
        assert journal.rotations > 3
        path = journal.path
        crash(journal)
        contents.append([line for line in path.read_bytes().split(b"\n")[1:]])  # past the header (pid, time)
        assert [call.request_id for call in recover(directory)] == sorted(journal.open_ids)
        finish_recovery(directory)
    assert contents[0] == contents[1]


# --- who owns a file ----------------------------------------------------------------------------------------
def test_our_own_live_journal_is_not_recovered(journal_dir: Path) -> None:
    journal = Journal.open(journal_dir, 3, fsync_interval=None)
    journal.started(1, 11, 22, full_event(), ESTIMATE)
    assert recover(journal_dir) == []  # a second open file description cannot take our lock
    crash(journal)
    assert [call.request_id for call in recover(journal_dir)] == [1]


_CHILD = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from payi_server.metering.event import Attribution, Event
from payi_server.metering.journal import Journal

journal = Journal.open(Path(sys.argv[1]), 5)
event = Event(source="proxy", category="system.openai", resource="gpt-4o", units={},
              event_timestamp=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), attribution=Attribution(user_id="u"))
journal.started(4242, 1, 2, event, {"text": {"input": 10, "output": 20}})
journal.started(4243, 1, 2, event, {"text": {"input": 10, "output": 20}})
journal.done([4243])
print("ready", flush=True)
time.sleep(120)
"""


def test_a_live_process_journal_is_skipped_until_it_is_killed(journal_dir: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(journal_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        assert files(journal_dir) == [f"journal-5-{child.pid}.log"]
        assert recover(journal_dir) == []

        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        [call] = recover(journal_dir)
        assert (call.request_id, call.app_id, call.org_id, call.answered) == (4242, 1, 2, False)
        assert call.event.units == {"text": {"input": 10, "output": 20}}
        assert call.event.event_timestamp == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert call.event.attribution == Attribution(user_id="u")
        assert recover(journal_dir) == []  # taken by the first recover until it is finished
        finish_recovery(journal_dir)
        assert files(journal_dir) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_finish_without_delete_leaves_the_calls_for_the_next_start(journal_dir: Path) -> None:
    journal = Journal.open(journal_dir, 3, fsync_interval=None)
    journal.started(1, 11, 22, full_event(), ESTIMATE)
    crash(journal)
    assert [call.request_id for call in recover(journal_dir)] == [1]
    assert len(finish_recovery(journal_dir, delete=False)) == 1
    assert [call.request_id for call in recover(journal_dir)] == [1]
    finish_recovery(journal_dir)
    assert files(journal_dir) == []


def test_a_reused_pid_never_appends_to_a_dead_process_journal(journal_dir: Path) -> None:
    dead = Journal.open(journal_dir, 3, fsync_interval=None)
    dead.started(1, 11, 22, full_event(), ESTIMATE)
    crash(dead)
    # Same node and pid (a container restarted): the new journal takes a fresh name and never touches the old file.
    live = Journal.open(journal_dir, 3, fsync_interval=None)
    assert live.path != dead.path
    live.started(2, 11, 22, full_event(), ESTIMATE)
    assert [call.request_id for call in recover(journal_dir)] == [1]
    finish_recovery(journal_dir)
    live.close(clean=False)
    assert [call.request_id for call in recover(journal_dir)] == [2]


def test_clean_close_removes_the_file_only_when_nothing_is_open(journal_dir: Path) -> None:
    journal = Journal.open(journal_dir, 3, fsync_interval=None)
    assert oct(journal_dir.stat().st_mode & 0o777) == oct(0o700)
    assert oct(journal.path.stat().st_mode & 0o777) == oct(0o600)
    journal.started(1, 11, 22, full_event(), ESTIMATE)
    journal.done([1])
    journal.close(clean=True)
    assert files(journal_dir) == []

    journal = Journal.open(journal_dir, 3, fsync_interval=None)
    journal.started(2, 11, 22, full_event(), ESTIMATE)
    journal.close(clean=True)  # the recorder could not write call 2: keep it
    journal.started(3, 11, 22, full_event(), ESTIMATE)  # after close: ignored
    assert [call.request_id for call in recover(journal_dir)] == [2]


# --- rotation -----------------------------------------------------------------------------------------------
def test_rotation_carries_open_calls_over_and_deletes_the_old_files(journal_dir: Path) -> None:
    journal = Journal.open(journal_dir, 3, max_bytes=1, fsync_interval=None)  # every line starts a new file
    pid = os.getpid()
    for request_id in (1, 2, 3):
        journal.started(request_id, 11, 22, full_event(), ESTIMATE)
        assert files(journal_dir) == [journal.path.name]
    assert journal.path.name == f"journal-3-{pid}.3.log" and journal.rotations == 3
    journal.answered(1, answer_event())
    journal.done([2])
    assert files(journal_dir) == [f"journal-3-{pid}.5.log"]
    content = journal.path.read_bytes()
    assert content.count(b'"k":"s"') == 2 and content.count(b'"k":"a"') == 1  # calls 1 and 3, and 1's answer
    journal.started(9, 11, 22, full_event(), ESTIMATE)
    crash(journal)

    calls = {call.request_id: call for call in recover(journal_dir)}
    assert set(calls) == {1, 3, 9}
    assert calls[1].answered and calls[1].event == replace(answer_event(), payload=None)
    assert calls[3].cut_off and calls[3].event == full_event(units=ESTIMATE, payload=None)


def test_done_line_of_a_call_from_an_older_file_is_never_lost(journal_dir: Path) -> None:
    # Call 1 is started in one file and done in the next one; call 2 stays open. No file left may say that call 1
    # is open without also saying that it is done.
    journal = Journal.open(journal_dir, 3, max_bytes=1500, fsync_interval=None)
    journal.started(1, 11, 22, full_event(), ESTIMATE)
    journal.started(2, 11, 22, full_event(), ESTIMATE)  # passes 1500 bytes: rotation, both carried
    assert journal.rotations == 1
    journal.done([1])
    journal.started(3, 11, 22, full_event(), ESTIMATE)
    journal.done([3])
    crash(journal)
    assert [call.request_id for call in recover(journal_dir)] == [2]


def test_rotation_keeps_one_small_file(journal_dir: Path) -> None:
    journal = Journal.open(journal_dir, 3, max_bytes=4096, fsync_interval=None)
    for request_id in range(1, 200):
        journal.started(request_id, 11, 22, full_event(), ESTIMATE)
        journal.answered(request_id, answer_event())
        if request_id % 10 == 0:
            journal.done(range(request_id - 9, request_id + 1))
        assert len(files(journal_dir)) == 1
    assert journal.rotations > 40
    written = journal.path.read_bytes().rstrip(b"\x00")  # a mapped file is NUL bytes past what is written
    assert len(written) < 4096 + 10 * 2500
    journal.done(range(191, 200))
    journal.close(clean=True)
    assert files(journal_dir) == []


def test_many_open_calls_do_not_cause_a_rotation_storm(journal_dir: Path) -> None:
    journal = Journal.open(journal_dir, 3, max_bytes=8192, fsync_interval=None)
    for request_id in range(40):  # about 56 KB of open calls, carried at each rotation
        journal.started(request_id, 11, 22, full_event(), ESTIMATE)
    before = journal.rotations
    for request_id in range(40):
        journal.answered(request_id, answer_event())  # about 12 KB more
    assert journal.rotations - before <= 2
    crash(journal)
    calls = recover(journal_dir)
    assert len(calls) == 40 and all(call.answered for call in calls)


def _count_syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    synced: list[int] = []
    real = os.fdatasync

    def counting(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counting)
    return synced


def test_with_fsync_replaced_files_are_deleted_once_the_new_one_is_synced(
    journal_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = _count_syncs(monkeypatch)
    journal = Journal.open(journal_dir, 3, max_bytes=1, fsync_interval=3600)  # the thread never wakes by itself
    journal.started(1, 11, 22, full_event(), ESTIMATE)
    assert len(files(journal_dir)) == 2 and len(journal.paths) == 2  # not synced yet: the old file stays
    journal._sync_once()
    assert files(journal_dir) == [journal.path.name] and len(synced) == 1
    journal._sync_once()
    assert len(synced) == 1  # nothing changed: nothing synced
    journal.started(2, 11, 22, full_event(), ESTIMATE)
    crash(journal)  # syncs the current file, deletes the replaced one
    assert len(synced) == 2 and len(files(journal_dir)) == 1
    assert [call.request_id for call in recover(journal_dir)] == [1, 2]


# --- the fsync thread ---------------------------------------------------------------------------------------
def test_fsync_thread_syncs_what_changed(journal_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced = _count_syncs(monkeypatch)
    journal = Journal.open(journal_dir, 3, max_bytes=1, fsync_interval=0.01)
    journal.started(1, 11, 22, full_event(), ESTIMATE)  # and a rotation: the replaced file goes after a sync
    deadline = time.monotonic() + 10
    while (not synced or len(files(journal_dir)) > 1) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert synced and files(journal_dir) == [journal.path.name]
    count = len(synced)
    time.sleep(0.1)
    assert len(synced) == count  # nothing changed: nothing synced
    journal.close(clean=False)
    assert journal._thread is None
    assert [call.request_id for call in recover(journal_dir)] == [1]


# --- property: recover returns exactly the started-not-done calls -------------------------------------------
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("s"), st.integers(1, 12)),
        st.tuples(st.just("a"), st.integers(1, 12)),
        st.tuples(st.just("d"), st.lists(st.integers(1, 12), max_size=4)),
    ),
    max_size=40,
)


def _model(ops: list[tuple[str, object]]) -> dict[int, int | None]:
    """Open calls -> the output units of their last answer (None: never answered)."""
    open_calls: dict[int, int | None] = {}
    for step, (kind, arg) in enumerate(ops):
        if kind == "s":
            assert isinstance(arg, int)
            open_calls.setdefault(arg, None)
        elif kind == "a":
            assert isinstance(arg, int)
            if arg in open_calls:
                open_calls[arg] = step
        else:
            assert isinstance(arg, list)
            for request_id in arg:
                open_calls.pop(request_id, None)
    return open_calls


def _apply(journal: Journal, ops: list[tuple[str, object]]) -> int | None:
    """Run the steps; the index of the last one that wrote a line (None if it also rotated the file)."""
    last = None
    for step, (kind, arg) in enumerate(ops):
        before, rotations = journal._written, journal.rotations
        if kind == "s":
            assert isinstance(arg, int)
            journal.started(arg, arg * 10, arg * 100, full_event(), {"text": {"input": arg, "output": 0}})
        elif kind == "a":
            assert isinstance(arg, int)
            journal.answered(arg, full_event(units={"text": {"input": arg, "output": step}}))
        else:
            assert isinstance(arg, list)
            journal.done(arg)
        if journal._written != before:
            last = step if journal.rotations == rotations else None
    return last


def _found(calls: list[Recovered]) -> dict[int, int | None]:
    out: dict[int, int | None] = {}
    for call in calls:
        assert call.app_id == call.request_id * 10 and call.org_id == call.request_id * 100
        assert call.estimate_units == {"text": {"input": call.request_id, "output": 0}}
        if call.answered:
            out[call.request_id] = call.event.units["text"]["output"]
        else:
            assert call.event.units == call.estimate_units
            out[call.request_id] = None
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops, max_bytes=st.sampled_from([1, 600, 2000, 1 << 20]), data=st.data())
def test_recover_returns_exactly_the_started_not_done_calls(
    ops: list[tuple[str, object]], max_bytes: int, data: st.DataObject
) -> None:
    crash_at = data.draw(st.integers(0, len(ops)), label="crash_at")
    ops = ops[:crash_at]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        journal = Journal.open(directory, 1, max_bytes=max_bytes, fsync_interval=None)
        last = _apply(journal, ops)
        assert set(journal.open_ids) == set(_model(ops))
        newest = journal.path
        crash(journal)
        candidates = [_model(ops)]
        if last is not None and ops[last][0] in ("s", "a") and data.draw(st.booleans(), label="tear"):
            # The process died in the middle of its last write (a start or an answer, not followed by a rotation,
            # which only deletes files once its own writes are complete): that step may or may not have happened.
            content = newest.read_bytes()
            line_start = content.rstrip(b"\n").rfind(b"\n") + 1
            cut = data.draw(st.integers(1, len(content) - line_start), label="cut")
            newest.write_bytes(content[: len(content) - cut])
            candidates.append(_model(ops[:last] + ops[last + 1 :]))
        try:
            found = _found(recover(directory))
        finally:
            finish_recovery(directory)
        assert found in candidates
        assert list(directory.iterdir()) == []
