"""The exponential back-off of the retry loops."""

from __future__ import annotations

from shared.backoff import next_delay


def test_the_pause_doubles_from_the_first_up_to_the_longest() -> None:
    pauses, pause = [], 0.0
    for _ in range(7):
        pause = next_delay(pause, 0.5, 10.0)
        pauses.append(pause)
    assert pauses == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert next_delay(0.0, 1.0, 30.0) == 1.0  # after a success, back to the first pause
    assert next_delay(0.0, 5.0, 2.0) == 2.0  # the longest pause bounds even the first
