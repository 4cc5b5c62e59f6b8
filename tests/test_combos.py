"""The pairwise covering sets of tests/combos.py really cover every pair of levels.

The check is independent of the generator: it enumerates the full product, collects every
pair of levels of every two factors that some allowed row contains, and looks for each in the
chosen rows.
"""

import itertools

import pytest

import combos


def missing_pairs(rows, factors, allowed=None):
    """The pairs ((factor a, level), (factor b, level)) that an allowed row of the product has
    and no row of `rows` has."""
    def pairs(row):
        return {((a, repr(row[a])), (b, repr(row[b]))) for a, b in itertools.combinations(range(len(row)), 2)}

    needed = set()
    for row in itertools.product(*factors):
        if allowed is None or allowed(row):
            needed |= pairs(row)
    have = set().union(*(pairs(r) for r in rows)) if rows else set()
    return needed - have


SWEEP_FACTORS = [combos.SHAPES, combos.HIDDEN, combos.LOSS_OUTPUT, combos.BIAS]


def as_row(case):
    sizes, hidden, output, loss, bias = case
    return (sizes, hidden, (loss, output), bias)


def sweep_allowed(row):
    return combos.valid(row[0], row[2][1])


def test_the_sweep_covering_set_has_every_pair_and_only_valid_networks():
    rows = [as_row(c) for c in combos.cases()]
    assert missing_pairs(rows, SWEEP_FACTORS, sweep_allowed) == set()
    full = combos.full_sweep()
    assert len(full) == 240 and len({combos.case_id(c) for c in full}) == 240
    assert all(c in full for c in combos.cases())
    # The lower bound: every (hidden, loss/output) pair needs its own case.
    assert len(combos.cases()) == len(combos.HIDDEN) * len(combos.LOSS_OUTPUT)


def test_the_check_finds_a_missing_pair():
    # Not vacuous: without any one case, some pair goes missing (each case carries the only
    # occurrence of its hidden x loss/output pair).
    rows = [as_row(c) for c in combos.cases()]
    for i in range(len(rows)):
        assert missing_pairs(rows[:i] + rows[i + 1:], SWEEP_FACTORS, sweep_allowed)


def test_a_pair_only_refused_rows_hold_is_neither_required_nor_produced():
    # softmax with one output is refused: the pair (one-output shape, softmax) never appears.
    for c in combos.cases():
        assert combos.valid(c[0], c[2])
    assert missing_pairs([], [[[1, 1]], ["softmax"]], lambda r: combos.valid(r[0], r[1])) == set()


@pytest.mark.parametrize("factors", [
    [[0, 1]] * 3,
    [[0, 1, 2], ["a", "b"], [True, False], [10, 20, 30, 40]],
    [list(range(7)), list(range(2)), list(range(5)), list(range(3)), list(range(2))],
    [["x", "y", "z"]],
    [[1], [2], [3]],
])
def test_covering_has_every_pair_on_other_factor_sets(factors):
    rows = combos.covering(factors)
    assert missing_pairs(rows, factors) == set()
    assert len(rows) <= len(list(itertools.product(*factors)))
    assert rows == combos.covering(factors)  # deterministic


def test_covering_honours_a_constraint():
    factors = [[0, 1, 2], ["a", "b", "c"], [True, False]]

    def allowed(r):
        return not (r[0] == 2 and r[1] == "c") and not (r[1] == "a" and r[2] is False)

    rows = combos.covering(factors, allowed)
    assert all(allowed(r) for r in rows)
    assert missing_pairs(rows, factors, allowed) == set()


def test_covering_refuses_empty_factors():
    with pytest.raises(ValueError, match=r"every factor needs at least one level, got sizes \[2, 0\]"):
        combos.covering([[1, 2], []])
    with pytest.raises(ValueError, match="no row of the product is allowed"):
        combos.covering([[1, 2], [3]], allowed=lambda r: False)
