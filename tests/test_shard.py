"""Sharding: every journey has exactly one owner, stable, and adding a shard moves only its share."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.config.shard import owner, owns, parse_shard, select
from agent.journey.model import Journey

names = st.lists(st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,30}", fullmatch=True), unique=True, max_size=50)
counts = st.integers(min_value=1, max_value=10)


@given(names, counts)
def test_every_journey_has_exactly_one_owner(journeys: list[str], count: int) -> None:
    for name in journeys:
        owners = [i for i in range(1, count + 1) if owns(name, i, count)]
        assert owners == [owner(name, count)]


@given(names, counts)
def test_assignment_is_stable(journeys: list[str], count: int) -> None:
    first = {n: owner(n, count) for n in journeys}
    assert {n: owner(n, count) for n in reversed(journeys)} == first


@given(names, counts)
def test_a_new_shard_takes_journeys_only_for_itself(journeys: list[str], count: int) -> None:
    for name in journeys:
        before, after = owner(name, count), owner(name, count + 1)
        assert after in (before, count + 1)


def test_known_assignment_does_not_change_between_releases() -> None:
    # pinned: a different hash would reshuffle every agent's journeys on upgrade
    assert [owner(f"journey-{i}", 3) for i in range(12)] == [1, 3, 3, 2, 1, 3, 1, 2, 3, 1, 2, 2]
    assert owner("checkout", 1) == 1


def test_shards_are_balanced() -> None:
    spread = Counter(owner(f"journey-{i}", 4) for i in range(4000))
    assert set(spread) == {1, 2, 3, 4}
    assert all(850 < n < 1150 for n in spread.values()), spread


def test_select_keeps_the_order_and_partitions() -> None:
    journeys = [Journey.model_validate({"name": f"j{i}", "steps": [{"name": "s", "http": {"url": "http://x/"}}]})
                for i in range(30)]
    parts = [select(journeys, i, 3) for i in (1, 2, 3)]
    assert sorted(j.name for p in parts for j in p) == sorted(j.name for j in journeys)
    for part in parts:
        assert part == [j for j in journeys if j in part]


def test_parse_shard() -> None:
    assert parse_shard("1/3") == (1, 3)
    assert parse_shard(" 3 / 3 ") == (3, 3)
    assert parse_shard("1/1") == (1, 1)


@pytest.mark.parametrize(("text", "message"), [
    ("0/3", "counts from 1"), ("4/3", "counts from 1"), ("1/0", "at least 1"),
    ("x", "INDEX/COUNT"), ("", "INDEX/COUNT"), ("-1/3", "INDEX/COUNT"), ("1/3/4", "INDEX/COUNT"),
])
def test_parse_shard_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_shard(text)


def test_owns_rejects_an_impossible_shard() -> None:
    with pytest.raises(ValueError):
        owns("a", 4, 3)
    with pytest.raises(ValueError):
        owns("a", 1, 0)
