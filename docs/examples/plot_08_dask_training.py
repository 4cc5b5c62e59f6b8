"""
Training on a Dask cluster
==========================

Hand quasinet dask arrays instead of NumPy arrays and the cost and gradient are computed where
the rows are: on the workers of the active ``distributed.Client``. Only the parameter vector
travels to the workers, and partial sums come back. Here a small local cluster (two workers
as threads of this process, so the example needs no ``if __name__ == "__main__"`` guard)
trains a 4-16-1 network on 40,000 rows generated on the workers, and the result is checked
against the same fit on the same rows in memory.
"""

import matplotlib.pyplot as plt
import numpy as np
import dask.array as da
from distributed import Client, LocalCluster

import quasinet as qn
from quasinet import plot

with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                  dashboard_address=":0", worker_dashboard_address=":0") as cluster, \
        Client(cluster, timeout="30s") as client:
    X = da.random.default_rng(0).standard_normal((40_000, 4), chunks=(10_000, 4))
    y = da.sin(X[:, :1]) * X[:, 1:2] + 0.1 * X[:, 2:3]
    net = qn.Network([4, 16, 1], activation="tanh", output_activation="identity", loss="mse", seed=0)
    start = net.get_params()
    trainer = qn.Trainer(net, method="L-BFGS-B", maxiter=60)
    result = trainer.train(X, y)
    print(f"on the cluster: cost {result.fun:.3e} after {result.nit} iterations "
          f"({len(client.scheduler_info()['workers'])} workers)")
    Xs, ys = X[:2000].compute(), y[:2000].compute()
    X_all, y_all = X.compute(), y.compute()  # only for the comparison below

# The same fit in memory, from the same start: the sums run in another order, so the two
# trajectories agree to rounding at first and may part slowly.
local = qn.Network([4, 16, 1], activation="tanh", output_activation="identity", loss="mse")
local.set_params(start)
local_trainer = qn.Trainer(local, method="L-BFGS-B", maxiter=60)
local_trainer.train(X_all, y_all)
print(f"in memory:      cost {local_trainer.J[-1]:.3e}; "
      f"first 10 iterations agree to {np.max(np.abs(np.subtract(trainer.J[:10], local_trainer.J[:10]))):.1e}")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
plot.cost_curves(trainer.J, ax=ax1, title="L-BFGS-B on dask arrays")
ax1.semilogy(local_trainer.J, "k:", label="same fit in memory")
ax1.legend()
plot.regression(ys.ravel(), net.forward(Xs).ravel(), ax=ax2, title="fit on 2,000 of the rows")
plt.show()
