"""The audit trail from Python: ``actor=``, ``ip=`` and ``user_agent=`` on every
lifecycle call, and ``gate.events(...)`` returning events with datetimes, on
memory and on a real SQLite file."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

import gatepass

WHO = {"actor": "user:42", "ip": "203.0.113.9", "user_agent": "Mozilla/5.0 (audit test)"}


@pytest.fixture(params=["memory", "sqlite"])
def any_gate(request, sqlite_url: str) -> gatepass.Gate:
    return gatepass.Gate("memory://" if request.param == "memory" else sqlite_url)


def test_every_lifecycle_call_records_one_event_with_the_actor_and_source(any_gate: gatepass.Gate) -> None:
    gate = any_gate
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    issued = gate.issue("Production Server", subject="ws_1", metadata={"billing": "acct-secret-value"}, **WHO)
    key_id = issued.key.id
    gate.update(key_id, name="Renamed", **WHO)
    gate.update(key_id, name="Renamed", **WHO)  # changes nothing: no event
    gate.deactivate(key_id, **WHO)
    gate.activate(key_id, **WHO)
    rotated = gate.rotate(key_id, grace="1h", **WHO)
    gate.revoke(key_id, **WHO)
    gate.revoke(key_id, **WHO)  # already revoked: no event
    gate.delete(key_id, **WHO)

    page = gate.events(key=key_id)
    assert page.next is None
    assert [e.action for e in page] == [
        "deleted",
        "revoked",
        "regenerated",
        "activated",
        "deactivated",
        "updated",
        "issued",
    ]
    for event in page:
        assert event.key_id == key_id
        assert event.owner == "ws_1"
        assert event.actor == "user:42"
        assert event.ip == "203.0.113.9"
        assert event.user_agent == "Mozilla/5.0 (audit test)"
        assert event.id.startswith("evt_")
        assert isinstance(event.at, datetime) and event.at.tzinfo is not None
        assert event.at >= before
    events = page.events
    assert events[5].changes == {"name": {"from": "Production Server", "to": "Renamed"}}
    assert events[2].changes == {"start": {"from": issued.key.start, "to": rotated.key.start}}
    assert events[6].changes["metadata"] == {"keys": ["billing"]}
    text = repr([e.to_dict() for e in events])
    for secret in (issued.token, rotated.token, "acct-secret-value"):
        assert secret not in text
    assert "Event(id=" in repr(events[0]) and issued.token not in repr(events[0])


def test_without_an_actor_the_event_names_this_process(gate: gatepass.Gate) -> None:
    issued = gate.issue("plain")
    gate.revoke(issued.key.id, ip="198.51.100.7")
    newest, oldest = gate.events(key=issued.key.id)
    assert oldest.actor.startswith(f"process:{os.getpid()}")
    assert oldest.ip is None
    assert newest.actor.startswith(f"process:{os.getpid()}")
    assert newest.ip == "198.51.100.7"


def test_events_filter_and_page(gate: gatepass.Gate) -> None:
    a = gate.issue("a", subject="ws_a")
    b = gate.issue("b", subject="ws_b")
    for _ in range(2):
        gate.deactivate(a.key.id)
        gate.activate(a.key.id)
    assert [e.key_id for e in gate.events(owner="ws_b")] == [b.key.id]
    assert len(gate.events(key=a.key.id)) == 5
    assert len(gate.events(since=datetime.now(timezone.utc) + timedelta(hours=1))) == 0
    first = gate.events(limit=4)
    assert len(first) == 4 and first.next is not None
    rest = gate.events(after=first.next, limit=4)
    assert len(rest) == 2 and rest.next is None
    every = list(gate.iter_events(page_size=2))
    assert [e.id for e in every] == [e.id for e in first] + [e.id for e in rest]
    assert every == list(first) + list(rest)


def test_bad_arguments_are_clear_errors(gate: gatepass.Gate) -> None:
    issued = gate.issue("k")
    with pytest.raises(gatepass.InvalidArgument, match="actor"):
        gate.revoke(issued.key.id, actor="line\nbreak")
    with pytest.raises(gatepass.InvalidArgument, match="ip"):
        gate.revoke(issued.key.id, actor="user:1", ip="not-an-ip")
    assert gate.get(issued.key.id).status == "active"
    with pytest.raises(gatepass.InvalidArgument, match="cursor"):
        gate.events(after="nonsense")
    with pytest.raises(gatepass.InvalidArgument) as caught:
        gate.events(key=issued.token)
    assert issued.token not in str(caught.value)
    with pytest.raises(gatepass.InvalidArgument, match="timezone"):
        gate.events(since=datetime.now())
    with pytest.raises(TypeError):
        gate.events(since="yesterday")  # type: ignore[arg-type]


def test_pages_show_their_cursor_as_python_does(gate: gatepass.Gate) -> None:
    for name in ("one", "two", "three"):
        gate.issue(name)
    first = gate.events(limit=2)
    assert isinstance(first.next, str)
    assert repr(first) == f"EventPage(len=2, next={first.next!r})"
    last = gate.events(after=first.next, limit=2)
    assert last.next is None
    assert repr(last) == "EventPage(len=1, next=None)"
    keys = gate.list(limit=2)
    assert isinstance(keys.next, str)
    assert repr(keys) == f"Page(len=2, next={keys.next!r})"
    assert repr(gate.list(after=keys.next, limit=2)) == "Page(len=1, next=None)"
