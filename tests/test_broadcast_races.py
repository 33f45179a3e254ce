"""Concurrency: ten candidates accept each broadcast round in the same instant; one wins.

Real concurrent database connections, one per candidate thread (the harness
is :mod:`tests.support.broadcast_race`, shared with ``bench/dispatch.py``).
The same checker fails a read-check-save accept, which shows it can fail.
"""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests import services
from tests.support import broadcast_race

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # Rounds are raced a batch after they open: none may expire meanwhile.
    pytest.mark.usefixtures("long_offers"),
]


@pytest.fixture
def long_offers():
    with override_settings(TESTAPP_JOB_TIMEOUT_SECONDS=3600):
        yield


def test_ten_simultaneous_accepts_of_each_round_make_exactly_one_winner():
    # SQLite runs one writer at a time: fewer rounds show the same thing there.
    rounds = 200 if services.database() == "sqlite" else 2000
    result = broadcast_race.race_rounds(rounds, broadcast_race.library_accept)
    assert len(result.pks) == rounds
    assert broadcast_race.double_wins(result) == []
    assert result.refusals["AlreadyTaken"] == rounds * (broadcast_race.CANDIDATES - 1)


@pytest.mark.skipif(
    services.database() == "sqlite",
    reason="SQLite serializes the naive accepts' writes, so it rarely double-wins",
)
def test_the_checker_flags_a_naive_read_check_save_accept():
    result = broadcast_race.race_rounds(50, broadcast_race.naive_accept)
    assert broadcast_race.double_wins(result)
