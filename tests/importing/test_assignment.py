"""The optimal one-to-one assignment (pure), checked against brute force."""

from __future__ import annotations

from itertools import permutations

from hypothesis import given, settings
from hypothesis import strategies as st

from torrentino_bridge.importing.assignment import max_weight_matching

Matrix = list[list[float | None]]


def total(weights: Matrix, pairs: dict[int, int]) -> float:
    return sum(weights[r][c] or 0.0 for r, c in pairs.items())


def brute_force(weights: Matrix) -> float:
    """Best total over every partial one-to-one assignment of positive, allowed pairs."""
    rows = len(weights)
    cols = max((len(r) for r in weights), default=0)
    best = 0.0
    # Each row picks a distinct column or None (-1): permutations of columns padded with Nones.
    slots = list(range(cols)) + [-1] * rows
    for choice in set(permutations(slots, rows)):
        value = 0.0
        for r, c in enumerate(choice):
            if c == -1:
                continue
            w = weights[r][c] if c < len(weights[r]) else None
            if w is None or w <= 0:
                break
            value += w
        else:
            best = max(best, value)
    return best


def test_global_optimum_beats_greedy() -> None:
    # Greedy gives row 0 its best column (0.9) and leaves row 1 nothing; optimal is 0.8 + 0.85.
    weights: Matrix = [[0.9, 0.8], [0.85, None]]
    assert max_weight_matching(weights) == {0: 1, 1: 0}


def test_rows_can_stay_unmatched() -> None:
    weights: Matrix = [[0.5], [0.7], [None]]
    assert max_weight_matching(weights) == {1: 0}


def test_non_positive_and_forbidden_pairs_are_never_chosen() -> None:
    assert max_weight_matching([[0.0, -1.0, None]]) == {}
    assert max_weight_matching([]) == {}
    assert max_weight_matching([[], []]) == {}


def test_more_columns_than_rows() -> None:
    weights: Matrix = [[0.1, 0.2, 0.9, 0.3]]
    assert max_weight_matching(weights) == {0: 2}


def test_large_square_identity_is_found() -> None:
    n = 120
    weights: Matrix = [[(1.0 if r == c else 0.4) for c in range(n)] for r in range(n)]
    assert max_weight_matching(weights) == {i: i for i in range(n)}


cell = st.one_of(st.none(), st.floats(min_value=-1.0, max_value=5.0, allow_nan=False))


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 5).flatmap(
    lambda cols: st.lists(st.lists(cell, min_size=cols, max_size=cols), min_size=1, max_size=5)))
def test_matches_brute_force(weights: Matrix) -> None:
    pairs = max_weight_matching(weights)
    assert len(set(pairs.values())) == len(pairs)                    # one-to-one
    assert all(weights[r][c] is not None and weights[r][c] > 0 for r, c in pairs.items())  # type: ignore[operator]
    assert abs(total(weights, pairs) - brute_force(weights)) < 1e-6
