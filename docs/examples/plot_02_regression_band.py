"""
A 1-D regression with its predictive band
=========================================

``QuasiNetRegressor()`` with no arguments trains by Bayesian regularisation: it learns how
much to regularise and how wide the hidden layer should be from the training data, and keeps a
Laplace posterior over the weights. ``predict(X, return_std=True)`` turns it into a
predictive standard deviation: the noise the data showed plus the uncertainty of the weights,
which grows where there are no data (the gap in the middle and beyond both ends).
"""

import matplotlib.pyplot as plt
import numpy as np

from quasinet.sklearn import QuasiNetRegressor

rng = np.random.default_rng(1)
x = np.concatenate([rng.uniform(-4, -2, 40), rng.uniform(1.5, 4, 40)])
y = np.sin(1.5 * x) + 0.3 * x + 0.15 * rng.normal(size=x.size)
X = x[:, None]

reg = QuasiNetRegressor(random_state=0).fit(X, y)
print("model chosen:", reg.hidden_layer_sizes_, "hidden units;",
      f"{reg.n_effective_params_:.1f} effective parameters of {reg.network_.n_params}")
print(f"noise std learned: {reg.y_scale_[0] / np.sqrt(reg.beta_):.3f} (true 0.15)")

grid = np.linspace(-6, 6, 400)[:, None]
mean, std = reg.predict(grid, return_std=True)

# %%
fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
ax.fill_between(grid[:, 0], mean - 2 * std, mean + 2 * std, alpha=0.25, label=r"$\pm 2$ std")
ax.plot(grid[:, 0], mean, label="prediction")
ax.plot(grid[:, 0], np.sin(1.5 * grid[:, 0]) + 0.3 * grid[:, 0], "k--", lw=1, label="truth")
ax.scatter(x, y, s=12, color="0.3", label="training data")
ax.set(xlabel="x", ylabel="y", title="QuasiNetRegressor().predict(X, return_std=True)")
ax.legend(loc="upper left")
ax.grid(alpha=0.3)
plt.show()
