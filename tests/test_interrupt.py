"""Ctrl-C: SIGINT during a long Trainer.train and during one long core call.

Each case runs in a subprocess that sends itself SIGINT from a timer thread once the work is
under way. The work would take far longer than the subprocess timeout if the signal were not
acted on, so the timeout (a hang guard, not a speed assertion) is what fails a broken
interrupt. The subprocess prints what it observed as JSON; docs/reliability.md quotes the
latencies it measured.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

TIMEOUT = 120  # seconds; the uninterrupted work below takes many times longer

COMMON = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    import numpy as np
    import quasinet as qn

    sent = {}

    def interrupt_when(ready, delay):
        def run():
            ready.wait()
            time.sleep(delay)
            sent["t"] = time.perf_counter()
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=run, daemon=True).start()
    """
)

TRAIN = COMMON + textwrap.dedent(
    """
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 30))  # LM's Gauss-Newton matrix (1124 x 1124) costs ~1e10 flops from 4000 rows
    y = (np.sin(X[:, :3].sum(axis=1, keepdims=True)) > 0).astype(float) * np.ones((1, 4))
    net = qn.Network([30, 32, 4], activation="tanh", seed=1)
    J0 = net.cost(X, y)
    evaluated = []
    started = threading.Event()
    from conftest import recording_bind  # the tests directory is on sys.path (see _run)
    recording_bind(net, evaluated, lambda n: n == 20 and started.set())
    interrupt_when(started, 0.5)
    try:
        # 10^6 random restarts of up to 200 iterations each would take days.
        qn.Trainer(net, method=sys.argv[1], maxiter=200, restarts=10**6, seed=0).train(X, y)
        outcome = "finished"
    except KeyboardInterrupt:
        outcome = "KeyboardInterrupt"
    latency = time.perf_counter() - sent["t"] if "t" in sent else None
    best_f, best_p = min(evaluated, key=lambda t: t[0])
    print(json.dumps({
        "outcome": outcome,
        "latency": latency,
        "evaluations": len(evaluated),
        "J0": J0,
        "best_f": best_f,
        "net_cost": net.cost(X, y),
        "params_are_best": bool(np.array_equal(net.params, best_p)),
        "finite": bool(np.all(np.isfinite(net.params))),
    }))
    """
)

CORE_CALL = COMMON + textwrap.dedent(
    """
    # One cost_grad of about 10^13 floating-point operations (minutes even on many cores):
    # a 1,000-wide network, 2,000,000 rows, about 30,000 row blocks.
    net = qn.Network([4, 1000, 1000, 1], activation="tanh", seed=2)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2_000_000, 4))
    y = rng.uniform(size=2_000_000)
    small = net.cost_grad(X[:64], y[:64])  # warm the workspaces and the pool
    ready = threading.Event()
    interrupt_when(ready, 0.3)
    ready.set()
    try:
        net.cost_grad(X, y)
        outcome = "finished"
    except KeyboardInterrupt:
        outcome = "KeyboardInterrupt"
    latency = time.perf_counter() - sent["t"] if "t" in sent else None
    # The network is still usable and gives the same answer as before the interrupt.
    again = net.cost_grad(X[:64], y[:64])
    print(json.dumps({
        "outcome": outcome,
        "latency": latency,
        "usable": bool(again[0] == small[0] and np.array_equal(again[1], small[1])),
    }))
    """
)


def _default_sigint():
    """In the child: SIGINT's default action, so that Python turns it into KeyboardInterrupt even
    when the test runner was started with SIGINT ignored (a background job of a shell)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run(script, *args):
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.dirname(os.path.abspath(__file__)),
                                                      env.get("PYTHONPATH")]))
    proc = subprocess.run(  # SIGINT as a terminal delivers it, even when this runner ignores it
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=TIMEOUT, env=env,
        preexec_fn=_default_sigint,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("method", ["L-BFGS-B", "BFGS", "LM", "trust-krylov"])
def test_sigint_stops_training_and_keeps_the_best_parameters(method):
    r = _run(TRAIN, method)
    assert r["outcome"] == "KeyboardInterrupt", r
    assert r["finite"] and r["params_are_best"], r
    assert r["net_cost"] == r["best_f"] and r["best_f"] < r["J0"], r
    print(f"{method}: interrupted after {r['evaluations']} evaluations, {r['latency'] * 1e3:.1f} ms after SIGINT")


def test_sigint_interrupts_one_long_core_call_between_row_blocks():
    r = _run(CORE_CALL)
    assert r["outcome"] == "KeyboardInterrupt", r
    assert r["usable"], r
    print(f"core call: KeyboardInterrupt {r['latency'] * 1e3:.1f} ms after SIGINT")
