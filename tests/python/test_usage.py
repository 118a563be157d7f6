"""Usage history through the Python package: buckets by hour and day on a
real SQLite file, refusals by code, datetimes in UTC, bad arguments refused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import gatepass


def test_valid_and_refused_requests_come_back_by_hour(sqlite_gate: gatepass.Gate) -> None:
    issued = gatepass_issue(sqlite_gate)
    header = f"Bearer {issued.token}"
    for _ in range(3):
        assert sqlite_gate.verify(header).ok
    assert sqlite_gate.verify(header, scopes=["bots:write"]).code == "insufficient_scope"
    sqlite_gate.revoke(issued.key.id)
    assert sqlite_gate.verify(header).code == "revoked"
    assert sqlite_gate.verify(header).code == "revoked"

    now = datetime.now(timezone.utc)
    buckets = sqlite_gate.usage(issued.key.id, since=now - timedelta(hours=3), step="hour")
    assert len(buckets) in (3, 4)  # the hour holding `since` up to the current one
    assert all(isinstance(b, gatepass.UsageBucket) for b in buckets)
    starts = [b.start for b in buckets]
    assert starts == sorted(starts)
    assert all(s.tzinfo is not None and s.utcoffset() == timedelta(0) for s in starts)
    assert all(s.minute == 0 and s.second == 0 for s in starts)
    assert sum(b.valid for b in buckets) == 3
    refused: dict = {}
    for b in buckets:
        for code, n in b.refused.items():
            refused[code] = refused.get(code, 0) + n
    assert refused == {"insufficient_scope": 1, "revoked": 2}
    assert sqlite_gate.get(issued.key.id).usage_count == 3

    # The documented default, the management API's and the CLI's too: the
    # last 30 days by day, today's bucket included.
    days = sqlite_gate.usage(issued.key.id)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    assert len(days) == 30
    assert days[-1].valid == 3
    assert days[-1].start == today
    assert days[0].start == today - timedelta(days=29)
    # ... and the last 24 hours by hour, the current hour included.
    hours = sqlite_gate.usage(issued.key.id, step="hour")
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    assert len(hours) == 24
    assert (hours[0].start, hours[-1].start) == (this_hour - timedelta(hours=23), this_hour)
    assert sum(b.valid for b in hours) == 3


def test_bad_arguments_are_refused_with_clear_errors(gate: gatepass.Gate) -> None:
    issued = gatepass_issue(gate)
    key_id = issued.key.id
    with pytest.raises(gatepass.InvalidArgument, match="step"):
        gate.usage(key_id, step="week")  # type: ignore[arg-type]
    with pytest.raises(gatepass.InvalidArgument, match="timezone-aware"):
        gate.usage(key_id, since=datetime(2026, 1, 1))
    now = datetime.now(timezone.utc)
    with pytest.raises(gatepass.InvalidArgument, match="2000"):
        gate.usage(key_id, since=now - timedelta(days=100), step="hour")
    with pytest.raises(gatepass.InvalidArgument, match="rolled up"):
        gate.usage(key_id, since=now - timedelta(days=60), step="hour")
    with pytest.raises(gatepass.InvalidArgument, match="until must be after since"):
        gate.usage(key_id, since=now, until=now - timedelta(hours=1))
    with pytest.raises(gatepass.NotFound):
        gate.usage("key_" + "0" * 16)
    with pytest.raises(gatepass.InvalidArgument) as caught:
        gate.usage(issued.token)
    assert issued.token not in str(caught.value)


def gatepass_issue(gate: gatepass.Gate) -> gatepass.Issued:
    return gate.issue("usage", scopes=["bots:read"])
