"""Optimal one-to-one assignment (pure): the Hungarian algorithm on a small matrix.

Greedy first-come matching gives a file to the first track it fits and can leave the
track it fits best without one; the Hungarian algorithm maximises the total weight over
all pairs at once. Albums have at most a few hundred tracks, so O(n^2 m) is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

_INF = float("inf")


def max_weight_matching(weights: Sequence[Sequence[float | None]]) -> dict[int, int]:
    """Rows -> columns, one-to-one, maximising the summed weight of the chosen pairs.

    `None` forbids a pair; a row may stay unmatched (it then contributes 0), so only pairs
    with a positive weight are ever worth choosing. Ties go to the lower indexes.
    """
    rows = [r for r, row in enumerate(weights) if any(w is not None and w > 0 for w in row)]
    if not rows:
        return {}
    width = max(len(weights[r]) for r in rows)
    cols = [c for c in range(width)
            if any(c < len(weights[r]) and _ok(weights[r][c]) for r in rows)]
    n, m = len(rows), len(cols)
    # Costs, 1-indexed: real columns first, then one "stay unmatched" column per row (cost 0).
    big = 1.0 + sum(max((w for w in weights[r] if _ok(w)), default=0.0) for r in rows)  # type: ignore[type-var]
    size = m + n
    cost = [[0.0] * (size + 1) for _ in range(n + 1)]
    for i, r in enumerate(rows, start=1):
        row = weights[r]
        for j, c in enumerate(cols, start=1):
            w = row[c] if c < len(row) else None
            cost[i][j] = -w if _ok(w) else big  # type: ignore[operator]
    assigned = _hungarian(cost, n, size)
    result: dict[int, int] = {}
    for j, i in enumerate(assigned):
        if i and 1 <= j <= m and cost[i][j] < 0:
            result[rows[i - 1]] = cols[j - 1]
    return result


def _ok(w: float | None) -> bool:
    return w is not None and w > 0


def _hungarian(a: list[list[float]], n: int, m: int) -> list[int]:
    """Minimum-cost assignment of n rows into m >= n columns (1-indexed matrix `a`).

    Returns p where p[j] is the row assigned to column j (0 = none). The classic
    potentials formulation (Kuhn-Munkres with shortest augmenting paths).
    """
    u = [0.0] * (n + 1)
    v = [0.0] * (m + 1)
    p = [0] * (m + 1)
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [_INF] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = _INF
            j1 = 0
            row = a[i0]
            ui0 = u[i0]
            for j in range(1, m + 1):
                if used[j]:
                    continue
                cur = row[j] - ui0 - v[j]
                if cur < minv[j]:
                    minv[j] = cur
                    way[j] = j0
                if minv[j] < delta:
                    delta = minv[j]
                    j1 = j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    return p
