from __future__ import annotations

import pytest

from podtap.testing import IGNORE, PlaybookFailure, Raises, Step, play


def echo_twice(value: int) -> list[int]:
    if value < 0:
        raise ValueError(f"negative: {value}")
    return [value, value]


def test_passing_playbook_returns_outputs() -> None:
    results = play(
        echo_twice, [(1, [1, 1]), Step(2, IGNORE), (-1, Raises(ValueError, match="negative"))]
    )
    assert results == [[1, 1], [2, 2], []]


def test_wrong_outputs_fail_with_transcript() -> None:
    with pytest.raises(PlaybookFailure) as info:
        play(echo_twice, [(1, [1, 1]), Step(2, [2], note="second")])
    text = str(info.value)
    assert "step 1 (second): expected outputs [2], got [2, 2]" in text
    assert "[0] feed 1" in text and "-> 1" in text


def test_missing_exception_fails() -> None:
    with pytest.raises(PlaybookFailure, match="expected to raise ValueError, got outputs"):
        play(echo_twice, [(1, Raises(ValueError))])


def test_unexpected_or_mismatched_exception_fails() -> None:
    with pytest.raises(PlaybookFailure, match="expected outputs \\[\\], got ValueError"):
        play(echo_twice, [(-1, [])])
    with pytest.raises(PlaybookFailure, match="to raise KeyError"):
        play(echo_twice, [(-1, Raises(KeyError))])
    with pytest.raises(PlaybookFailure, match="matching 'positive'"):
        play(echo_twice, [(-1, Raises((KeyError, ValueError), match="positive"))])
