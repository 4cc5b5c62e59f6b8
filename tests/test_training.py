"""Trainer: every gradient-based SciPy method, restarts, histories, the best point kept."""

import numpy as np
import pytest
from scipy import optimize

import quasinet as qn
from quasinet import datasets
from quasinet.train import METHODS, STOPPABLE_METHODS, EarlyStopping


def data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(40, 3))
    Y = np.column_stack([np.sin(X[:, 0]) + X[:, 1] * X[:, 2], np.cos(X[:, 1])])
    return X, Y


@pytest.mark.parametrize("method", METHODS)
def test_every_method_reduces_the_cost(method):
    X, Y = data()
    net = qn.Network([3, 6, 2], activation="tanh", output_activation="identity", loss="mse", seed=1)
    J0 = net.cost(X, Y)
    trainer = qn.Trainer(net, method=method, maxiter=60)
    if method == "BR":  # noiseless targets: a per-output noise precision reaches its ceiling, said
        from quasinet.evidence import NoiseNotIdentifiedWarning

        with pytest.warns(NoiseNotIdentifiedWarning, match="is fitted to within 1e-3 of its spread"):
            res = trainer.train(X, Y)
    else:
        res = trainer.train(X, Y)
    assert isinstance(res, optimize.OptimizeResult)
    if method == "BR":
        # BR minimises beta E_D + sum alpha E_W (its res.fun), not the network's own cost; what it
        # must do is fit the data: the network's data term falls as much as the others'.
        assert net.cost(X, Y) < 0.5 * J0 and res.fun == res.history[res.best_cycle - 1]["M"]
        np.testing.assert_array_equal(net.params, res.x)
        return
    assert res.fun < 0.5 * J0
    assert net.cost(X, Y) == pytest.approx(res.fun, rel=1e-14)
    np.testing.assert_array_equal(net.params, res.x)
    assert len(trainer.J) >= 1 and trainer.J[-1] >= res.fun - 1e-15
    assert trainer.testJ == []


def test_history_matches_the_iterates():
    X, Y = data()
    net = qn.Network([3, 4, 2], activation="tanh", output_activation="identity", loss="mse", seed=2)
    seen = []
    trainer = qn.Trainer(net, method="L-BFGS-B", maxiter=25, callback=seen.append)
    trainer.train(X, Y, X[:10], Y[:10])
    assert len(seen) == len(trainer.J) == len(trainer.testJ)
    probe = net.copy()
    for p, J, Jt in zip(seen, trainer.J, trainer.testJ):
        probe.set_params(p)
        assert J == pytest.approx(probe.cost(X, Y), rel=1e-13)
        assert Jt == pytest.approx(probe.cost(X[:10], Y[:10]), rel=1e-13)


def test_restarts_keep_the_best_and_report_all():
    X, y = datasets.sleep_study()
    net = qn.Network([2, 3, 1], bias=False, seed=29)  # a start that stalls on a plateau
    single = qn.Trainer(net.copy()).train(X, y)
    assert single.fun > 1e-4
    trainer = qn.Trainer(net, restarts=4, seed=1)
    best = trainer.train(X, y)
    assert len(trainer.runs) == 5
    assert best.fun == min(r.fun for r in trainer.runs) < 1e-6
    assert net.cost(X, y) == best.fun
    assert trainer.J == best.J


def test_target_cost_stops_restarting():
    X, y = datasets.sleep_study()
    trainer = qn.Trainer(qn.Network([2, 3, 1], bias=False, seed=0), restarts=10, target_cost=1e-6)
    trainer.train(X, y)
    assert len(trainer.runs) == 1


def test_sample_weight_reaches_the_cost():
    X, Y = data()
    w = np.linspace(0.1, 2.0, X.shape[0])
    net = qn.Network([3, 4, 2], activation="tanh", output_activation="identity", loss="mse", seed=3)
    res = qn.Trainer(net, method="L-BFGS-B", maxiter=30).train(X, Y, sample_weight=w)
    assert res.fun == pytest.approx(net.cost(X, Y, w), rel=1e-14)


def test_bad_trainer_arguments():
    net = qn.Network([2, 3, 1])
    with pytest.raises(ValueError, match="method must be one of BFGS, L-BFGS-B, CG, Newton-CG, TNC, SLSQP, trust-ncg, trust-krylov, trust-constr, LM, BR, got 'Nelder-Mead'"):
        qn.Trainer(net, method="Nelder-Mead")
    with pytest.raises(ValueError, match="maxiter must be >= 1, got 0"):
        qn.Trainer(net, maxiter=0)
    with pytest.raises(TypeError, match="restarts must be an int, got float"):
        qn.Trainer(net, restarts=1.5)
    with pytest.raises(TypeError, match="callback must be callable"):
        qn.Trainer(net, callback=3)
    X, y = datasets.sleep_study()
    with pytest.raises(ValueError, match="give both X_test and y_test, or neither"):
        qn.Trainer(net).train(X, y, X_test=X)


def test_early_stopping_counts_patience_and_keeps_the_best():
    # A scripted validation cost: best at iteration 3, a tie at 5 is no improvement.
    costs = iter([5.0, 4.0, 1.0, 2.0, 1.0, 3.0, 0.5])
    seen = []
    stop = EarlyStopping(lambda p: next(costs), patience=3, on_iteration=lambda i, p, v: seen.append((i, p[0], v)))
    for it in range(1, 6):
        stop(np.array([float(it)]))
    assert not stop.stopped and stop.best_iteration == 3 and stop.best_cost == 1.0
    with pytest.raises(StopIteration):
        stop(np.array([6.0]))  # third iteration without a lower cost
    assert stop.stopped and stop.curve == [5.0, 4.0, 1.0, 2.0, 1.0, 3.0]
    np.testing.assert_array_equal(stop.best_params, [3.0])
    assert seen == [(i, float(i), c) for i, c in zip(range(1, 7), stop.curve)]  # before the stop decision
    # Without patience it only follows the cost; without a cost it only calls on_iteration.
    follow = EarlyStopping(lambda p: float(p[0]))
    for v in (3.0, 2.0, 2.5):
        follow(np.array([v]))
    assert follow.best_cost == 2.0 and follow.curve == [3.0, 2.0, 2.5] and not follow.stopped
    calls = []
    EarlyStopping(on_iteration=lambda i, p, v: calls.append((i, v)))(np.zeros(1))
    assert calls == [(1, None)]


def test_early_stopping_arguments():
    with pytest.raises(ValueError, match="patience needs a validation_cost"):
        EarlyStopping(patience=3)
    with pytest.raises(ValueError, match="patience must be >= 1, got 0"):
        EarlyStopping(lambda p: 0.0, patience=0)
    with pytest.raises(TypeError, match="patience must be an int, got bool"):
        EarlyStopping(lambda p: 0.0, patience=True)
    with pytest.raises(TypeError, match="validation_cost must be callable"):
        EarlyStopping(1.0)


@pytest.mark.parametrize("method", STOPPABLE_METHODS)
def test_early_stopping_ends_a_trainer_run(method):
    # Noisy targets and a wide network: the validation cost turns up long before maxiter.
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(60, 3))
    y = X[:, :1] + 0.5 * rng.normal(size=(60, 1))
    net = qn.Network([3, 30, 1], activation="tanh", output_activation="identity", loss="mse", seed=2)
    val = net.bind(X[40:], y[40:])
    stop = EarlyStopping(val.cost, patience=4)
    res = qn.Trainer(net, method=method, maxiter=300, callback=stop).train(X[:40], y[:40])
    assert stop.stopped and res.status == 99 and stop.iteration < 300
    assert stop.iteration == stop.best_iteration + 4 == len(stop.curve)
    assert stop.best_cost == min(stop.curve) == val.cost(stop.best_params)


def test_method_names_and_int_checks_shared_with_the_estimators():
    from quasinet.train import check_int, method_name

    assert [method_name(m.lower()) for m in METHODS] == list(METHODS)
    assert qn.Trainer(qn.Network([2, 1]), method="l-bfgs-b").method == "L-BFGS-B"
    with pytest.raises(ValueError, match="method must be one of .*, got 3"):
        method_name(3)
    assert check_int("n", np.int64(4), 1) == 4 and type(check_int("n", np.int64(4), 1)) is int
    for bad in (True, np.bool_(True), 2.0):
        with pytest.raises(TypeError, match="maxiter must be an int"):
            qn.Trainer(qn.Network([2, 1]), maxiter=bad)
