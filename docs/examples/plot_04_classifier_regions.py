"""
A classifier's decision regions and moderated probabilities
===========================================================

``QuasiNetClassifier()`` trains by Bayesian regularisation too. With ``moderate=True`` its
``predict_proba`` gives MacKay's *moderated* probabilities: each output logit is shrunk by its
posterior uncertainty, so the probability moves towards 1/2 where the weights are poorly
determined, away from the data. By default (``moderate=False``) it gives the network's own
probabilities, which stay confident all the way to the corners of the plot. Which predicts
held-out data better depends on the data: moderation lowered the log-loss on noisy moons and on
Pima, and raised it on nearly separable tables (iris, breast cancer), where the Laplace
posterior is too wide (see the generalisation page).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons

from quasinet.sklearn import QuasiNetClassifier

X, y = make_moons(n_samples=100, noise=0.25, random_state=0)
clf = QuasiNetClassifier(moderate=True, random_state=0).fit(X, y)
print("chosen:", clf.hidden_layer_sizes_, "hidden units;",
      f"{clf.n_effective_params_:.1f} effective parameters of {clf.network_.n_params}")

xx, yy = np.meshgrid(np.linspace(-3, 4, 200), np.linspace(-2.5, 3, 200))
grid = np.c_[xx.ravel(), yy.ravel()]
p_moderated = clf.predict_proba(grid)[:, 1].reshape(xx.shape)
clf.set_params(moderate=False)  # the same network, its own probabilities
p_network = clf.predict_proba(grid)[:, 1].reshape(xx.shape)
_ = clf.set_params(moderate=True)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained", sharey=True)
for ax, p, title in zip(axes, (p_moderated, p_network),
                        ("moderated (moderate=True)", "network's own (the default)")):
    cs = ax.contourf(xx, yy, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.8)
    ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", edgecolors="k", s=20)
    ax.set(title=f"P(class 1), {title}", xlabel="$x_0$")
axes[0].set_ylabel("$x_1$")
fig.colorbar(cs, ax=axes, label="probability of class 1")
plt.show()
