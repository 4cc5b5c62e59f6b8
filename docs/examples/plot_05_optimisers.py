"""
Levenberg-Marquardt, BFGS and L-BFGS-B: cost against time
=========================================================

The same network from the same start, trained by three methods on a small nonlinear
regression (a noise-free sine surface, 300 rows, 2-16-1 tanh network, 65 parameters). BFGS
and L-BFGS-B use only the gradient; Levenberg-Marquardt (``method="LM"``) solves with the
core's Gauss-Newton matrix at every step, which costs more per iteration but needs far fewer
of them on small problems. The callback records the time of every iteration; the cost is the
trainer's record ``Trainer.J``. Timings move with the machine's load; the ranking is what to
read. The performance page has the benchmark on four problems with five starts each.
"""

import time

import matplotlib.pyplot as plt
import numpy as np

import quasinet as qn

rng = np.random.default_rng(0)
X = rng.uniform(-2, 2, size=(300, 2))
y = np.sin(2 * X[:, :1]) * np.cos(X[:, 1:])
start = qn.Network([2, 16, 1], activation="tanh", output_activation="identity", loss="mse",
                   seed=3).get_params()

curves = {}
for method in ("LM", "BFGS", "L-BFGS-B"):
    net = qn.Network([2, 16, 1], activation="tanh", output_activation="identity", loss="mse")
    net.set_params(start)
    stamps = []
    t0 = time.perf_counter()
    trainer = qn.Trainer(net, method=method, maxiter=1000,
                         callback=lambda p: stamps.append(time.perf_counter() - t0))
    result = trainer.train(X, y)
    n = min(len(stamps), len(trainer.J))
    curves[method] = (np.array(stamps[:n]), np.array(trainer.J[:n]))
    reached = np.flatnonzero(curves[method][1] <= 1e-4)
    when = f"{curves[method][0][reached[0]] * 1e3:6.1f} ms" if reached.size else "   never"
    print(f"{method:9s} cost 1e-4 reached at {when}; {result.nit:5d} iterations, "
          f"{stamps[-1] * 1e3:6.0f} ms, final cost {result.fun:.2e}")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
for method, (t, J) in curves.items():
    ax1.semilogy(t * 1e3, J, label=method)
    ax2.semilogy(np.arange(1, J.size + 1), J, label=method)
ax1.axhline(1e-4, color="0.5", lw=0.8, ls=":")
ax1.set(xlabel="time (ms)", xscale="log", ylabel="training cost (mse)", title="cost against time")
ax2.set(xlabel="iteration", xscale="log", title="cost against iteration")
for ax in (ax1, ax2):
    ax.grid(alpha=0.3, which="both")
    ax.legend()
plt.show()
