"""Resident memory does not grow over many calls: 100,000 cost_grad calls (and the other entry
points, the error paths and the GIL-releasing path) after a warm-up.

A leak of one gradient array per call (about 200 bytes here) would add 20 MB over 100,000 calls;
the bound below is 2 MiB, so anything from a dozen bytes per call upwards is caught.
"""

import ctypes
import gc

import numpy as np
import psutil
import pytest

import quasinet as qn

BOUND = 2 * 1024 * 1024  # bytes of RSS growth allowed after the warm-up (allocator slack)
CALLS = 100_000


try:  # glibc: hand freed heap pages back to the system, so earlier tests' free memory cannot hide a leak
    _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):  # not glibc: the measurement is only less sharp
    _malloc_trim = None


def _rss():
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)
    return psutil.Process().memory_info().rss


def _growth(fn, calls, warmup=2000):
    for _ in range(warmup):
        fn()
    before = _rss()
    for _ in range(calls):
        fn()
    return _rss() - before


def test_cost_grad_100k_calls_keep_resident_memory_flat():
    net = qn.Network([3, 5, 2], seed=0)
    rng = np.random.default_rng(0)
    X, y, w = rng.normal(size=(10, 3)), rng.uniform(size=(10, 2)), rng.uniform(size=10)
    grown = _growth(lambda: net.cost_grad(X, y, w), CALLS)
    assert grown < BOUND, f"RSS grew by {grown} bytes over {CALLS} cost_grad calls"


def test_conversions_and_other_entry_points_keep_memory_flat():
    # float32 / Fortran inputs are converted on every call: the copies must be freed.
    net = qn.Network([4, 6, 1], activation="tanh", seed=1)
    rng = np.random.default_rng(1)
    X = np.asfortranarray(rng.normal(size=(8, 4)).astype(np.float32))
    y = rng.uniform(size=8).astype(np.float32)
    fg = net.bind(X, y)
    p = net.get_params()

    def calls():
        net.forward(X)
        net.cost(X, y)
        fg(p)
        fg.cost(p)

    grown = _growth(calls, 25_000)
    assert grown < BOUND, f"RSS grew by {grown} bytes over 100,000 mixed calls"


@pytest.mark.parametrize(
    "bad",
    [
        lambda net, X, y: net.cost_grad(np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), y),
        lambda net, X, y: net.cost_grad(X.astype(np.complex128), y),
        lambda net, X, y: net.cost_grad(X[:, :2], y),
        lambda net, X, y: net.cost_grad(X, y, -np.ones(len(X))),
    ],
    ids=["nan", "complex", "shape", "negative-weight"],
)
def test_error_paths_keep_memory_flat(bad):
    net = qn.Network([3, 4, 1], seed=2)
    X, y = np.ones((6, 3)), np.ones(6)

    def call():
        try:
            bad(net, X, y)
        except (ValueError, TypeError):
            return
        raise AssertionError("the bad call did not raise")

    grown = _growth(call, 30_000)
    assert grown < BOUND, f"RSS grew by {grown} bytes over 30,000 rejected calls"


def test_gil_releasing_calls_keep_memory_flat():
    # Large calls release the GIL and use the worker pool; workspaces come from a pool too.
    net = qn.Network([16, 64, 4], seed=3)
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(3000, 16)), rng.uniform(size=(3000, 4))
    grown = _growth(lambda: net.cost_grad(X, y), 2000, warmup=100)
    assert grown < BOUND, f"RSS grew by {grown} bytes over 2,000 large cost_grad calls"


def test_networks_created_and_dropped_free_their_memory():
    X = np.ones((5, 10))

    def make():
        net = qn.Network([10, 50, 3])
        net.cost_grad(X, np.ones((5, 3)))

    grown = _growth(make, 20_000, warmup=500)
    assert grown < BOUND, f"RSS grew by {grown} bytes over 20,000 networks"


def test_the_measure_catches_a_leak():
    # The same measurement around a deliberate leak of one 128-element array (about 1 KiB) per
    # call: about 100 MiB in all, far above the bound whatever free memory earlier tests left
    # in the allocator for the leak to reuse (a 4-element leak was hidden that way once).
    kept = []
    grown = _growth(lambda: kept.append(np.ones(128)), CALLS, warmup=0)
    assert grown > BOUND
