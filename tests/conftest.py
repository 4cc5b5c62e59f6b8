"""Helpers shared by several test files (pytest puts this directory on sys.path)."""

import numpy as np
import pytest

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn, in the test extra
    threadpool_limits = None


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread():
    """Every BLAS library of the test process runs one thread.

    pytest-xdist already runs one worker per core, and OpenBLAS's idle threads spin beside the
    core's own: once scikit-learn was imported (as the test modules do), a default estimator fit
    took about twice as long (measured on 2 cores). Results do not depend on BLAS's thread count;
    child processes are not affected.
    """
    if threadpool_limits is None:
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def recording_bind(net, evaluated, on_evaluation=None):
    """Make ``net.bind`` return objectives that append ``(cost, params copy)`` to ``evaluated``.

    The Trainer asks the network for its bound objective, so this records every cost the
    optimiser evaluates: through ``fg(p)`` and ``fg.cost(p)`` (Levenberg-Marquardt's trial
    steps); ``fg.gauss_newton`` and ``fg.hessp`` pass through, as the Trainer takes its best
    point from the costs alone. An evaluation the core refuses
    (FloatingPointError) is recorded with cost NaN. ``on_evaluation(n)`` is called after the
    n-th evaluation, if given.
    Plain function (not a fixture) so that subprocess scripts can import it too.
    """
    bind = net.bind

    def recording(*args, **kwargs):
        fg = bind(*args, **kwargs)

        def record(f, p):
            evaluated.append((f, np.array(p)))
            if on_evaluation is not None:
                on_evaluation(len(evaluated))

        def recorded(call):
            def wrapper(p):
                try:
                    out = call(p)
                except FloatingPointError:  # the core refuses a non-finite result: record it as NaN
                    evaluated.append((float("nan"), np.array(p)))
                    raise
                record(out[0] if isinstance(out, tuple) else out, p)
                return out

            return wrapper

        fun = recorded(fg)
        fun.cost, fun.gauss_newton, fun.hessp = recorded(fg.cost), fg.gauss_newton, fg.hessp
        return fun

    net.bind = recording


@pytest.fixture(scope="session")
def dask_cluster():
    """A 2-worker distributed.LocalCluster (separate processes) for the whole session of one test
    process (test_dask and test_attack2 share it: starting one costs seconds), as a Client that
    is not the default one; always shut down. Tests that kill a worker wait for its replacement."""
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    # dashboard_address=":0" (any free port): with None the scheduler still opens its HTTP
    # server on 8787 and warns when another cluster holds that port, an error under pytest here.
    cl = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", timeout=60)
    try:
        c = Client(cl, set_as_default=False, timeout=60)
        try:
            yield c
        finally:
            c.close(timeout=30)
    finally:
        cl.close(timeout=30)


# The longest tests, longest first, by node id (in brackets: seconds each took alone, -n 0, on the
# shared 2-core machine on which this list was made). None depends on a module-scoped fixture, so
# each can run anywhere in the order. A test renamed here only loses its place at the head.
RUN_FIRST = (
    "tests/test_dask.py::test_one_road_numpy_and_dask_give_the_same_bayesian_model[search-weighted]",  # (13)
    "tests/test_sklearn.py::test_check_estimator_passes_every_check[QuasiNetClassifier]",  # (9)
    "tests/test_fuzz.py::test_values_match_reference_or_overflow_honestly",  # (7)
    "tests/test_dask.py::test_one_road_numpy_and_dask_give_the_same_bayesian_model[committee]",  # (6)
    "tests/test_dask.py::test_one_road_numpy_and_dask_give_the_same_bayesian_model[classifier]",  # (6)
    "tests/test_sklearn.py::test_check_estimator_passes_every_check[QuasiNetRegressor]",  # (6)
    "tests/test_demo.py::test_demo_command_exits_0_and_tells_the_story",  # (5)
    "tests/test_dask.py::test_large_array_generated_on_the_workers_never_reaches_the_client",  # (4)
    "tests/test_interrupt.py::test_sigint_stops_training_and_keeps_the_best_parameters[BFGS]",  # (4)
)


def pytest_collection_modifyitems(config, items):
    """Put the longest tests (RUN_FIRST) at the head of each pytest-xdist worker's share.

    worksteal hands each worker an equal slice of the collection in order and then moves tests
    from the end of the longest queue to an idle worker. A long test late in a slice runs at the
    end of the session while the other workers wait; at the head of the slices, the long tests
    run first, round robin over the workers, and the short ones even out the end.
    """
    rank = {nodeid: i for i, nodeid in enumerate(RUN_FIRST)}
    first = sorted((item for item in items if item.nodeid in rank), key=lambda item: rank[item.nodeid])
    if not first:
        return
    rest = [item for item in items if item.nodeid not in rank]
    workers = max(1, int(getattr(config, "workerinput", {}).get("workercount", 1)))
    heads = [first[w::workers] for w in range(workers)]
    order = []
    for w in range(workers):  # slice w: [w * n // workers, (w + 1) * n // workers) of the whole list
        size = (w + 1) * len(items) // workers - w * len(items) // workers
        order += heads[w]
        take = size - len(heads[w])
        order += rest[:take]
        rest = rest[take:]
    items[:] = order + rest
