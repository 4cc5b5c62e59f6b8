"""
The notebook's network and its cost curve
=========================================

The 2-3-1 sigmoid network of "Neural Networks Demystified" predicts a test score from hours
of sleep and hours of study. quasinet trains it with BFGS on the C++ core's exact gradient,
after checking that gradient against central differences. The left panel is the cost per
iteration (``Trainer.J``, the notebook's name); the right one the sigmoid and its derivative,
the notebook's ``sigmoid`` / ``sigmoidPrime`` figure.
"""

import matplotlib.pyplot as plt
import numpy as np

import quasinet as qn
from quasinet import datasets, plot

X, y = datasets.sleep_study()  # 3 students, normalised the notebook's way
net = qn.Network([2, 3, 1], bias=False, seed=0)  # sigmoid everywhere, cost 0.5 sum (y - yHat)^2
print("parameters:", net.n_params, "layout:", net.layout)
print(f"gradient check (relative error): {qn.check_gradient(net, X, y):.1e}")

trainer = qn.Trainer(net, method="BFGS")
result = trainer.train(X, y)
print(f"cost {result.fun:.2e} after {result.nit} iterations")
print("predicted:", np.round(net.forward(X).ravel(), 4), " target:", y.ravel())

# %%
# quasinet's plots draw into the axes they are given, so they compose with any figure.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
plot.cost_curves(trainer.J, ax=ax1, title="BFGS on the notebook's data")
plot.activations(["sigmoid"], ax=ax2, title="sigmoid and its derivative")
plt.show()
