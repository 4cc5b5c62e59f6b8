"""Many Python threads on one shared network: every thread gets exactly (bitwise) what the same
call gives when made alone. The calls are large enough that the binding releases the GIL, and
some large enough that the core splits them over its own worker pool, so the pool's
"busy: run on the calling thread" path is exercised too.
"""

import threading

import numpy as np
import pytest

import quasinet as qn

N_THREADS = 8
ROUNDS = 10


def _problems(net, sizes, seed):
    rng = np.random.default_rng(seed)
    out = []
    for i, N in enumerate(sizes):
        X = rng.normal(size=(N, net.layer_sizes[0]))
        if net.loss == "softmax_crossentropy":
            y = rng.integers(0, net.layer_sizes[-1], size=N)
        else:
            y = rng.uniform(0, 1, size=(N, net.layer_sizes[-1]))
        w = rng.uniform(0.5, 2.0, size=N) if i % 2 else None
        params = net.get_params() + 0.01 * rng.normal(size=net.n_params)
        out.append((X, y, w, params))
    return out


def _evaluate(net, fgs, problem, k):
    X, y, w, params = problem
    fg = fgs[k]
    J, g = net.cost_grad(X, y, w)
    return {
        "cost_grad": (J, g),
        "cost": net.cost(X, y, w),
        "forward": net.forward(X),
        "bound": fg(params),
        "bound_cost": fg.cost(params),
    }


def _same(a, b):
    if isinstance(a, tuple):
        return all(_same(x, y) for x, y in zip(a, b))
    return np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize(
    "layer_sizes,activation,loss,output",
    [
        ([8, 32, 3], "tanh", "mse", "sigmoid"),
        ([20, 64, 32, 5], "relu", "softmax_crossentropy", "softmax"),
        ([5, 16, 1], "sigmoid", "binary_crossentropy", "sigmoid"),
    ],
)
def test_threads_sharing_one_network_equal_sequential_calls(layer_sizes, activation, loss, output):
    net = qn.Network(layer_sizes, activation=activation, output_activation=output, loss=loss, seed=0)
    # Row counts from a few (GIL kept) to thousands (GIL released, several core threads).
    sizes = [3, 40, 300, 2000, 5000, 700, 64, 1200][:N_THREADS]
    problems = _problems(net, sizes, seed=1)
    fgs = [net.bind(X, y, w) for X, y, w, _ in problems]
    expected = [_evaluate(net, fgs, p, k) for k, p in enumerate(problems)]

    barrier = threading.Barrier(N_THREADS)
    results = [[] for _ in range(N_THREADS)]
    errors = []

    def worker(k):
        try:
            barrier.wait()
            for _ in range(ROUNDS):
                results[k].append(_evaluate(net, fgs, problems[k], k))
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k in range(N_THREADS):
        assert len(results[k]) == ROUNDS
        for got in results[k]:
            for name, value in expected[k].items():
                assert _same(got[name], value), f"thread {k}, {name}: differs from the sequential call"
    # The shared network itself is untouched.
    np.testing.assert_array_equal(net.params, qn.Network(layer_sizes, activation=activation,
                                                         output_activation=output, loss=loss, seed=0).params)


def test_threads_with_errors_and_successes_mixed():
    # Half the threads send bad data (ValueError raised with the GIL held or released); the
    # other half must be unaffected.
    net = qn.Network([6, 24, 2], activation="tanh", seed=3)
    rng = np.random.default_rng(4)
    good = [(rng.normal(size=(N, 6)), rng.uniform(size=(N, 2))) for N in (50, 800, 3000, 10)]
    bad = []
    for N in (50, 800, 3000, 10):
        X = rng.normal(size=(N, 6))
        X[N // 2, 3] = np.nan
        bad.append((X, rng.uniform(size=(N, 2))))
    expected = [net.cost_grad(X, y) for X, y in good]
    barrier = threading.Barrier(8)
    outcome = {}

    def run(kind, k):
        barrier.wait()
        for _ in range(ROUNDS):
            if kind == "good":
                J, g = net.cost_grad(*good[k])
                outcome.setdefault((kind, k), []).append(J == expected[k][0] and np.array_equal(g, expected[k][1]))
            else:
                try:
                    net.cost_grad(*bad[k])
                    outcome.setdefault((kind, k), []).append(False)
                except ValueError as exc:
                    outcome.setdefault((kind, k), []).append("X must be finite" in str(exc))

    threads = [threading.Thread(target=run, args=(kind, k)) for kind in ("good", "bad") for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcome) == 8 and all(len(v) == ROUNDS and all(v) for v in outcome.values()), outcome


def test_trainers_in_threads_equal_sequential_training():
    # Independent networks trained at once in threads end where they end when trained alone.
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1500, 4))
    y = (np.sin(X[:, :1]) + X[:, 1:2] * X[:, 2:3] > 0).astype(float)

    def train(seed):
        net = qn.Network([4, 8, 1], activation="tanh", seed=seed)
        qn.Trainer(net, method="BFGS", maxiter=25).train(X, y)
        return net.get_params()

    expected = [train(s) for s in range(4)]
    got = [None] * 4

    def worker(s):
        got[s] = train(s)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in range(4):
        np.testing.assert_array_equal(got[s], expected[s])


def test_signal_handler_reentering_the_core_during_a_parallel_call():
    # The interrupt hook runs Python signal handlers on the calling thread in the middle of a
    # parallel call; a handler that calls the core again must get a correct answer, not a
    # deadlock or undefined behaviour on the pool's lock.
    import signal
    import threading

    net = qn.Network([64, 256, 4], activation="tanh", output_activation="identity", loss="mse", seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(100_000, 64)), rng.normal(size=(100_000, 4))  # about 10 GFLOP
    Xs, ys = X[:2000], y[:2000]
    expected_small = net.cost_grad(Xs, ys)
    seen, calling = [], [False]

    def handler(signum, frame):
        seen.append((calling[0], net.cost_grad(Xs, ys)))

    old = signal.signal(signal.SIGUSR1, handler)
    try:
        qn.set_num_threads(2)
        timer = threading.Timer(0.01, lambda: signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1))
        timer.start()
        calling[0] = True
        J, G = net.cost_grad(X, y)
        calling[0] = False
        timer.join()
    finally:
        qn.set_num_threads(0)
        signal.signal(signal.SIGUSR1, old)
    assert np.isfinite(J) and np.all(np.isfinite(G))
    assert len(seen) == 1
    inside, (Js, Gs) = seen[0]
    assert inside, "the handler ran after the call, not between its row blocks"
    assert Js == pytest.approx(expected_small[0], rel=1e-12)
    np.testing.assert_allclose(Gs, expected_small[1], rtol=1e-10, atol=1e-14)
