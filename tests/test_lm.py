"""Levenberg-Marquardt (``Trainer(method="LM")`` and :func:`quasinet.lm.levenberg_marquardt`)."""

import numpy as np
import pytest

import quasinet as qn
from quasinet import datasets, lm


def test_lm_trains_the_notebook_network_below_1e_12():
    X, y = datasets.sleep_study()
    net = qn.Network([2, 3, 1], bias=False, seed=0)  # the notebook's network, a fixed start
    trainer = qn.Trainer(net, method="LM", maxiter=100)
    res = trainer.train(X, y)
    assert res.fun < 1e-12 and net.cost(X, y) == res.fun
    assert res.nit < 30 and res.status in (2, 3) and res.success
    assert trainer.J == sorted(trainer.J, reverse=True)


@pytest.mark.parametrize(
    "sizes, output, loss",
    [([3, 6, 2], "identity", "sse"), ([3, 6, 2], "tanh", "mse"), ([3, 5, 2], "sigmoid", "binary_crossentropy"),
     ([3, 5, 4, 3], "softmax", "softmax_crossentropy"), ([3, 5, 3], "softmax", "mse")],
)
def test_every_loss_descends_and_never_keeps_an_uphill_step(sizes, output, loss):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3))
    if loss == "softmax_crossentropy" or output == "softmax":
        Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 50)]
    elif loss == "binary_crossentropy":
        Y = (rng.uniform(size=(50, 2)) < 0.5).astype(float)
    else:
        Y = np.tanh(X[:, :2] * X[:, 1:])
    net = qn.Network(sizes, activation="tanh", output_activation=output, loss=loss, l2=1e-3, seed=2)
    J0 = net.cost(X, Y)
    trainer = qn.Trainer(net, method="LM", maxiter=40)
    res = trainer.train(X, Y)
    assert res.fun < 0.5 * J0
    J = [J0] + trainer.J
    assert all(b < a for a, b in zip(J, J[1:])), "every accepted step lowers the cost"
    assert res.njev == res.nit + 1 and res.nfev >= res.njev + res.nit


def test_linear_network_lm_gives_ridge_regression():
    # A linear network with sse and l2 is ridge regression with an unpenalised intercept: LM
    # (a damped Newton method on a quadratic) lands on the closed form.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 + 0.1 * rng.normal(size=30)
    lam = 0.7
    net = qn.Network([4, 1], output_activation="identity", loss="sse", l2=lam, seed=0)
    res = qn.Trainer(net, method="LM", maxiter=50, options={"min_grad": 1e-13}).train(X, y)
    A = np.column_stack([X, np.ones(30)])
    D = np.diag([lam] * 4 + [0.0])
    closed = np.linalg.solve(A.T @ A + D, A.T @ y)
    np.testing.assert_allclose(res.x, closed, rtol=1e-10, atol=1e-12)


def rosenbrock_fns(floor=0.0):
    """Residuals r = (10 (x1 - x0^2), 1 - x0, floor); cost 0.5 |r|^2 (minimum 0.5 floor^2 at
    (1, 1)), whose plain Gauss-Newton step from (-1.2, 1) with a tiny mu is uphill."""
    calls = []

    def fun_gn(x):
        r = np.array([10 * (x[1] - x[0] ** 2), 1 - x[0], floor])
        Jr = np.array([[-20 * x[0], 10.0], [-1.0, 0.0], [0.0, 0.0]])
        return 0.5 * r @ r, Jr.T @ r, Jr.T @ Jr

    def cost(x):
        f = fun_gn(x)[0]
        calls.append(f)
        return f

    return fun_gn, cost, calls


def test_rejected_steps_raise_mu_and_are_never_kept():
    fun_gn, cost, calls = rosenbrock_fns()
    accepted = []
    res = lm.levenberg_marquardt(fun_gn, cost, [-1.2, 1.0], 200, {"mu": 1e-8}, callback=lambda x: accepted.append(
        fun_gn(x)[0]))
    assert res.fun < 1e-12 and np.allclose(res.x, [1.0, 1.0])
    costs = [fun_gn(np.array([-1.2, 1.0]))[0]] + accepted
    assert all(b < a for a, b in zip(costs, costs[1:]))
    assert len(calls) > len(accepted), "some trial steps were uphill and rejected"
    assert res.nfev == len(calls) + res.njev


def test_stopping_rules_and_statuses():
    fun_gn, cost, _ = rosenbrock_fns()
    x0 = [-1.2, 1.0]
    assert lm.levenberg_marquardt(fun_gn, cost, x0, 200, {"goal": 1.0}).status == 0
    r = lm.levenberg_marquardt(fun_gn, cost, x0, 3)
    assert r.status == 1 and r.nit == 3 and not r.success and "maxiter" in r.message
    r = lm.levenberg_marquardt(fun_gn, cost, x0, 500, {"min_grad": 1e-3})
    assert r.status == 2 and np.linalg.norm(r.jac) < 1e-3 and r.success
    # At a minimum with a nonzero cost nothing lowers it: mu climbs past mu_max.
    fun_gn, cost, _ = rosenbrock_fns(floor=0.1)
    r = lm.levenberg_marquardt(fun_gn, cost, [1.0, 1.0], 500, {"min_grad": 0.0, "mu_max": 1e4})
    assert r.status == 3 and r.mu > 1e4 and r.success
    n = []

    def stop(x):
        n.append(x)
        if len(n) == 2:
            raise StopIteration

    r = lm.levenberg_marquardt(fun_gn, cost, x0, 500, callback=stop)
    assert r.status == 99 and r.nit == 2 and not r.success


@pytest.mark.parametrize(
    "options, exc, msg",
    [
        ({"mu_dec": 1.5}, ValueError, r"option mu_dec must be finite and in \(0, 1\), got 1.5"),
        ({"mu_inc": 1.0}, ValueError, "option mu_inc must be finite and > 1"),
        ({"mu": -1}, ValueError, "option mu must be finite and > 0"),
        ({"mu": np.inf}, ValueError, "option mu must be finite"),
        ({"mu_max": 1e-5}, ValueError, "option mu_max must be finite and >= mu"),
        ({"min_grad": -1}, ValueError, "option min_grad must be finite and >= 0"),
        ({"goal": np.nan}, ValueError, "option goal must be finite"),
        ({"mu": "1"}, TypeError, "option mu must be a real number, got str"),
        ({"mu": True}, TypeError, "option mu must be a real number, got bool"),
        ({"damping": 1.0}, ValueError, "unknown Levenberg-Marquardt option 'damping': expected one of mu, mu_dec"),
    ],
)
def test_bad_options_are_refused_at_once(options, exc, msg):
    with pytest.raises(exc, match=msg):
        qn.Trainer(qn.Network([2, 3, 1]), method="LM", options=options)


def test_options_reach_the_loop():
    X, y = datasets.sleep_study()
    net = qn.Network([2, 3, 1], bias=False, seed=0)
    res = qn.Trainer(net, method="LM", maxiter=100, options={"goal": 1e-3}).train(X, y)
    assert res.status == 0 and 1e-4 < res.fun <= 1e-3


def test_lm_refuses_a_network_whose_matrix_would_not_fit():
    net = qn.Network([784, 256, 10], seed=0)  # 203,530 parameters: G alone would be 331 GB
    with pytest.raises(ValueError, match=r"P = 203530 parameters.*662,7\d\d,\d\d\d,\d\d\d bytes.*L-BFGS-B"):
        qn.Trainer(net, method="LM")


def test_lm_floating_point_error_keeps_the_start():
    # The cost overflows at the very first point: as for SciPy's methods, FloatingPointError
    # naming the iteration, and the network is left where it was.
    net = qn.Network([1, 1], activation="identity", output_activation="identity", loss="sse")
    net.params[:] = [1.0, 0.0]
    X = np.array([[1.0], [1e160]])
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(FloatingPointError, match="iteration 1"):
        qn.Trainer(net, method="LM").train(X, np.zeros(2))
    np.testing.assert_array_equal(net.params, [1.0, 0.0])


def test_overflowing_trial_steps_are_rejected_not_fatal():
    # Huge inputs: the first undamped steps overflow; LM rejects them and raises mu instead.
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20, 2)) * np.array([1.0, 1e150])
    y = X[:, :1] * 2.0
    net = qn.Network([2, 1], output_activation="identity", loss="sse", seed=0)
    J0 = net.cost(X, y)
    with np.errstate(over="ignore", invalid="ignore"):
        res = qn.Trainer(net, method="LM", maxiter=30, options={"mu": 1e-30}).train(X, y)
    assert np.isfinite(res.fun) and res.fun < J0


def test_restarts_history_and_test_cost_work_for_lm():
    X, y, Xt, yt = datasets.sleep_study_split()
    net = qn.Network([2, 3, 1], bias=False, seed=29)
    seen = []
    trainer = qn.Trainer(net, method="LM", maxiter=50, restarts=3, seed=1, callback=seen.append)
    best = trainer.train(X, y, Xt, yt)
    assert len(trainer.runs) == 4 and best.fun == min(r.fun for r in trainer.runs)
    assert len(trainer.J) == len(trainer.testJ) == best.nit
    probe = net.copy()
    probe.set_params(best.x)
    assert trainer.testJ[-1] == pytest.approx(probe.cost(Xt, yt), rel=1e-13)
    trainer = qn.Trainer(qn.Network([2, 3, 1], bias=False, seed=0), method="LM", restarts=10, target_cost=1e-8)
    trainer.train(X, y)
    assert len(trainer.runs) == 1


@pytest.mark.parametrize("method", ["Newton-CG", "trust-ncg", "trust-krylov", "trust-constr"])
def test_newton_methods_get_exact_hessian_products(method, monkeypatch):
    X, y = datasets.sleep_study()
    net = qn.Network([2, 3, 1], seed=0)
    products = []
    bind = net.bind

    def counting_bind(*a, **k):
        fg = bind(*a, **k)

        def fun(p):
            return fg(p)

        fun.cost = fg.cost

        def hessp(p, v):
            products.append(1)
            return fg.hessp(p, v)

        fun.hessp = hessp
        return fun

    monkeypatch.setattr(net, "bind", counting_bind)
    res = qn.Trainer(net, method=method, maxiter=100).train(X, y)
    assert products and res.fun < 1e-6
