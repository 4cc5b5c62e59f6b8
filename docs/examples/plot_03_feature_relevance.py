"""
Which inputs matter: automatic relevance determination
======================================================

In Friedman's first problem the target depends on inputs 0-4 only; inputs 5-9 are noise. The
default ``QuasiNetRegressor`` gives each input's outgoing weights their own prior precision
(ARD) and learns it from the data: an input whose weights the data do not support gets a large
precision, which pins its weights near zero. ``feature_relevance_`` is each input's share of
what the inputs do to the predictions (mean squared input derivative of the fitted function),
so inputs 3 and 4, which enter the target linearly (10 x3 + 5 x4), rank above the noise inputs
even where the network carries them through small first-layer weights. The right panel shows the evidence-driven training: the effective number
of parameters gamma settling per evidence cycle.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import make_friedman1

from quasinet import plot
from quasinet.sklearn import QuasiNetRegressor

X, y = make_friedman1(n_samples=200, noise=1.0, random_state=0)
reg = QuasiNetRegressor(random_state=0).fit(X, y)
print("chosen:", reg.hidden_layer_sizes_, "hidden units, ARD:", reg.ard_)
print("relevance:", reg.feature_relevance_.round(3))

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
plot.relevance(reg, names=[f"x{i}" for i in range(10)], ax=ax1,
               title="Friedman #1: inputs x5-x9 are noise")
plot.evidence_history(reg, ax=ax2)
ax2.get_legend().set_loc("center right")  # clear of both curves
plt.show()
