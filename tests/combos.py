"""The (architecture, activation, loss, bias) combinations the correctness tests sweep.

The factors below span 240 valid networks. Most files run a *pairwise covering set* of them
(``cases()``): every level of every factor meets every level of every other factor in at
least one case, which catches any fault that needs two settings to show (a hidden activation's
derivative in a deep network, an output delta without biases, ...) with about a fifth of the
cases. ``full_sweep()`` keeps every combination; tests/test_reference.py runs it, because it
is the independent specification every other path is checked against (see its docstring).
"""

import itertools

HIDDEN = ["sigmoid", "tanh", "relu", "softplus", "identity"]
# (loss, output activation) pairs: the squared losses with every output, each
# cross-entropy with the output it is defined for. One factor, as the pairs are constrained.
LOSS_OUTPUT = [
    ("sse", "sigmoid"),
    ("sse", "identity"),
    ("mse", "tanh"),
    ("mse", "relu"),
    ("mse", "softplus"),
    ("mse", "softmax"),
    ("sse", "softmax"),
    ("binary_crossentropy", "sigmoid"),
    ("softmax_crossentropy", "softmax"),
]
SHAPES = [[2, 3, 1], [4, 6, 5, 3], [3, 8, 8, 8, 2]]
BIAS = [True, False]


def covering(factors, allowed=None):
    """A small set of rows in which every pair of levels of every two factors appears.

    Deterministic greedy cover over the full product: each step takes the allowed row that
    covers the most pairs not yet covered (among those, the one whose levels were used least so
    far, so that levels are spread evenly; then the first in product order), until none is left.

    Parameters
    ----------
    factors : sequence of sequences
        The levels of each factor, in order.
    allowed : callable, optional
        ``allowed(row) -> bool`` for a full row (a tuple with one level per factor); rows it
        refuses are never chosen, and a pair that only refused rows contain is not required.

    Returns
    -------
    list of tuple
        Rows of levels, one per factor, in the order they were chosen.
    """
    factors = [list(levels) for levels in factors]
    if not factors or any(len(levels) == 0 for levels in factors):
        raise ValueError(f"every factor needs at least one level, got sizes {[len(f) for f in factors]}")
    index_rows = [r for r in itertools.product(*(range(len(f)) for f in factors))
                  if allowed is None or allowed(tuple(f[i] for f, i in zip(factors, r)))]
    if not index_rows:
        raise ValueError("no row of the product is allowed")

    def pairs(r):
        return {(a, r[a], b, r[b]) for a, b in itertools.combinations(range(len(r)), 2)}

    row_pairs = [pairs(r) for r in index_rows]
    uncovered = set().union(*row_pairs)
    if len(factors) == 1:  # no pairs: each level once
        return [(f[r[0]],) for f in factors for r in index_rows]
    chosen = []
    used = [[0] * len(f) for f in factors]
    while uncovered:
        # min keeps the first of ties
        k = min(range(len(index_rows)), key=lambda k: (-len(row_pairs[k] & uncovered),
                                                        sum(used[a][i] for a, i in enumerate(index_rows[k]))))
        best = index_rows[k]
        chosen.append(best)
        uncovered -= row_pairs[k]
        for a, i in enumerate(best):
            used[a][i] += 1
    return [tuple(f[i] for f, i in zip(factors, r)) for r in chosen]


def valid(sizes, output):
    # softmax needs two outputs; tests/test_bad_input.py checks the refusal
    return not (output == "softmax" and sizes[-1] < 2)


def _as_case(row):
    sizes, hidden, (loss, output), bias = row
    return (sizes, hidden, output, loss, bias)


def _factors(shapes):
    return [shapes, HIDDEN, LOSS_OUTPUT, BIAS]


def full_sweep(shapes=SHAPES):
    """Every valid (sizes, hidden, output, loss, bias) combination: 240 for the default shapes."""
    rows = itertools.product(*_factors(shapes))
    return [_as_case(r) for r in rows if valid(r[0], r[2][1])]


def cases(shapes=SHAPES):
    """The pairwise covering set of ``full_sweep(shapes)``: every pair of levels of shape, hidden
    activation, (loss, output) and bias appears in some case."""
    rows = covering(_factors(shapes), allowed=lambda r: valid(r[0], r[2][1]))
    return [_as_case(r) for r in rows]


def case_id(c):
    sizes, hidden, output, loss, bias = c
    return f"{'-'.join(map(str, sizes))}-{hidden}-{output}-{loss}-{'b' if bias else 'nob'}"
