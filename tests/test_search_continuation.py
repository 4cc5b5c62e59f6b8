"""The BR model search's early-stopped fits and their continuation (fitting._fit_bayes): what the
kept model reports, and the cycle-limit warning, on the paths where the search's fit is kept."""

import numpy as np
import pytest

from quasinet import fitting


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 2))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(n)
    return X, y


def _cycle_limit(result):
    return [m for k, m in result.warnings if k == "convergence" and "cycle limit" in m]


def _worse(refit):
    """_refit whose continuations all score far below the search's fits: the search's are kept."""

    def worse(fits, rows, settings, cycles=None):
        return [(e - 1e6, m, r) for e, m, r in refit(fits, rows, settings, cycles)]

    return worse


def test_a_search_fit_stopped_by_search_cycles_is_no_cycle_limit_warning(monkeypatch):
    # The search stops its fits after SEARCH_CYCLES on purpose (status 1, "the cycle limit was
    # reached"); when such a fit is the one kept (its continuation scored lower), max_iter was
    # never reached and the warning "BR stopped on its cycle limit (max_iter=500)" is untrue.
    monkeypatch.setattr(fitting, "SEARCH_CYCLES", 3)
    monkeypatch.setattr(fitting, "_refit", _worse(fitting._refit))
    X, y = _data()
    r = fitting.fit(X, y, settings=fitting.Settings(hidden=(2,), committee=1), random_state=0)
    assert r.evidence_cycles == 3 and r.log_model_evidence == r.evidence_candidates[0][2]  # the search's fit
    assert _cycle_limit(r) == []


def test_an_interrupted_continuation_is_no_cycle_limit_warning(monkeypatch):
    # Ctrl-C during the continuation: the search's fits stand, stopped by SEARCH_CYCLES, not max_iter.
    monkeypatch.setattr(fitting, "SEARCH_CYCLES", 3)

    def interrupted(fits, rows, settings, cycles=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(fitting, "_refit", interrupted)
    X, y = _data()
    r = fitting.fit(X, y, settings=fitting.Settings(hidden=(2,), committee=1), random_state=0)
    assert r.interrupted and r.evidence_cycles == 3
    assert _cycle_limit(r) == []


@pytest.mark.parametrize("keep", ["search", "continuation"])
def test_max_iter_below_search_cycles_still_warns(monkeypatch, keep):
    # max_iter=2 < SEARCH_CYCLES: the search's fits and the continuation both stop on max_iter,
    # whichever is kept, and the warning names it.
    if keep == "search":
        monkeypatch.setattr(fitting, "_refit", _worse(fitting._refit))
    X, y = _data()
    r = fitting.fit(X, y, settings=fitting.Settings(hidden=(2,), committee=1, max_iter=2), random_state=0)
    assert r.evidence_cycles == 2
    assert _cycle_limit(r) == ["BR stopped on its cycle limit (max_iter=2) before the evidence settled; raise max_iter"]


def test_a_search_fit_kept_says_the_search_stopped_it_not_max_iter(monkeypatch):
    # quasinet train prints the kept fit's message ("BR: 261 iterations, <message>"): for a fit
    # that SEARCH_CYCLES stopped, "the cycle limit was reached" reads as max_iter's.
    monkeypatch.setattr(fitting, "SEARCH_CYCLES", 3)
    monkeypatch.setattr(fitting, "_refit", _worse(fitting._refit))
    X, y = _data()
    r = fitting.fit(X, y, settings=fitting.Settings(hidden=(2,), committee=1), random_state=0)
    assert r.evidence_cycles == 3 and "max_iter" in r.message and "search" in r.message


def test_ctrl_c_in_the_continuation_keeps_the_members_already_continued(monkeypatch):
    # Two members (two starts of one width): the first's continuation finishes and beats its
    # search fit, Ctrl-C stops the second's. The first keeps its continuation (the best model
    # reached, as fit's docstring promises), the second its search fit.
    refit, calls, outs = fitting._refit, [], []

    def first_better_then_interrupt(fits, rows, settings, cycles=None):
        calls.append(fits[0])
        if len(calls) > 1:
            raise KeyboardInterrupt
        outs.extend((e + 100.0, m, r) for e, m, r in refit(fits, rows, settings, cycles))
        return outs[:]

    monkeypatch.setattr(fitting, "_refit", first_better_then_interrupt)
    monkeypatch.setattr(fitting, "COMMITTEE_WINDOW", 1e9)
    X, y = _data()
    r = fitting.fit(X, y, settings=fitting.Settings(hidden=(2,), restarts=1, committee=2), random_state=0)
    assert r.interrupted and len(calls) == 2
    (e, continued, res), second = outs[0], calls[1]
    assert r.log_model_evidence == e and r.network is continued and r.log_evidence == res.log_evidence
    assert [m for m, _, _ in r.members] == [continued, second[1]]  # the second: the search's own fit
    assert r.member_evidence[1][2] == second[2].log_evidence


@pytest.mark.parametrize("tol, max_iter, want", [
    (1e-3, 500, (500, 1e-3, None)),  # a user tol: the fits run to it (evidence.PATIENCE cycles), up to max_iter
    (None, 500, (fitting.SEARCH_CYCLES, fitting.SEARCH_GAIN, fitting.SEARCH_PATIENCE)),
    (None, 7, (7, fitting.SEARCH_GAIN, fitting.SEARCH_PATIENCE)),
])
def test_the_search_stops_early_only_without_a_user_tol(monkeypatch, tol, max_iter, want):
    # With a user tol there is no continuation on the search's rows either: the kept fit is the
    # search's best, as before the search stopped early.
    search, seen, refits = fitting.search, [], []

    def recording(*args, **kwargs):
        seen.append((kwargs["maxiter"], kwargs["tol"], kwargs["patience"]))
        return search(*args, **kwargs)

    refit = fitting._refit
    monkeypatch.setattr(fitting, "search", recording)
    monkeypatch.setattr(fitting, "_refit", lambda *a, **k: refits.append(1) or refit(*a, **k))
    X, y = _data()
    r = fitting.fit(X, y, settings=fitting.Settings(hidden=(2,), committee=1, tol=tol, max_iter=max_iter),
                    random_state=0)
    assert seen == [want] and len(refits) == (0 if tol else 1)
    if tol:
        assert r.log_model_evidence == r.evidence_candidates[0][2]


def test_the_continuation_runs_on_each_member_and_a_better_one_is_kept(monkeypatch):
    # Default settings, one width, three starts: each committee member's fit continues once, from
    # the search's network (on a copy), and a continuation with the higher log model evidence
    # replaces its search fit in members_, member_evidence and the kept network's attributes.
    refit, calls, outs = fitting._refit, [], []

    def better(fits, rows, settings, cycles=None):
        calls.append(fits)
        outs.extend((e + 100.0, m, r) for e, m, r in refit(fits, rows, settings, cycles))
        return outs[-len(fits):]

    monkeypatch.setattr(fitting, "_refit", better)
    monkeypatch.setattr(fitting, "COMMITTEE_WINDOW", 1e9)
    X, y = _data()
    r = fitting.fit(X, y, settings=fitting.Settings(hidden=(2,), restarts=2), random_state=0)
    assert [len(c) for c in calls] == [1, 1, 1] and len(r.members) == 3
    outs.sort(key=lambda f: -f[0])
    assert [m for m, _, _ in r.members] == [m for _, m, _ in outs]
    assert [e[2] for e in r.member_evidence] == [f[2].log_evidence for f in outs]
    assert r.log_model_evidence == outs[0][0] and r.log_evidence == outs[0][2].log_evidence
    assert r.evidence_history == outs[0][2].history and r.loss_curve == list(outs[0][2].J)
    assert r.n_iter == outs[0][2].nit and r.evidence_cycles == outs[0][2].cycles


CONTINUATION_SIGINT = r"""
import os, signal, sys, warnings, numpy as np
from quasinet import fitting
from quasinet.sklearn import QuasiNetRegressor

class Interrupting(fitting.Trainer):
    # A real SIGINT at the start of the second continuation's training (the Trainers with a warm
    # alpha0 are the continuations'), delivered as Ctrl-C is, inside Trainer.train.
    continuations = 0

    def train(self, *args, **kwargs):
        if "alpha0" in self.options:
            Interrupting.continuations += 1
            if Interrupting.continuations == 2:
                os.kill(os.getpid(), signal.SIGINT)
        return super().train(*args, **kwargs)

fitting.Trainer = Interrupting
rng = np.random.default_rng(0)
X = rng.uniform(-2, 2, (150, 3)); y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(150)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    est = QuasiNetRegressor(hidden_layer_sizes=(3,), restarts=2, committee=3, random_state=0).fit(X, y)
print(sum("interrupted" in str(w.message) for w in caught), sum("cycle limit" in str(w.message) for w in caught))
print(Interrupting.continuations, len(est.members_), float(np.mean((est.predict(X) - y) ** 2)), float(np.var(y)))
print(bool(np.all(np.isinf(est.noise_dof_))), float(np.min(est.predict(X, return_std=True)[1])))
"""


def test_a_real_sigint_in_the_continuation_keeps_a_fitted_committee():
    import subprocess
    import sys

    from test_interrupt_fit import _default_sigint

    proc = subprocess.run([sys.executable, "-c", CONTINUATION_SIGINT], capture_output=True, text=True,
                          preexec_fn=_default_sigint, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    # Only the interrupt's warning: no cycle-limit warning for the search's early-stopped fits.
    assert lines[0] == "1 0", lines[0]
    continuations, members, mse, var = lines[1].split()
    assert continuations == "2" and members == "3" and float(mse) < 0.2 * float(var)
    gaussian, std = lines[2].split()
    assert gaussian == "True" and float(std) > 0
