"""
Overfitting, and how Bayesian regularisation answers it
=======================================================

Part 7 of the notebook: with only four training students, an unregularised 2-3-1 network
fits them almost exactly and predicts four new students badly (the test cost climbs while the
training cost falls). The notebook's fix is a penalty ``l2`` on the weights, whose value must
be guessed. Bayesian regularisation (``method="BR"``) learns the penalty from the four training
students alone: the prior precision alpha of the weights and the noise precision beta, whose
ratio is the equivalent penalty.
"""

import matplotlib.pyplot as plt
import numpy as np

import quasinet as qn
from quasinet import datasets

X, y, X_test, y_test = datasets.sleep_study_split()
start = qn.Network([2, 3, 1], bias=False, seed=0).get_params()

runs = {}
for label, l2, method in (("l2 = 0", 0.0, "BFGS"), ("l2 = 1e-4", 1e-4, "BFGS"), ("BR", 0.0, "BR")):
    net = qn.Network([2, 3, 1], bias=False, loss="mse", l2=l2)
    net.set_params(start)
    trainer = qn.Trainer(net, method=method, maxiter=200)
    result = trainer.train(X, y, X_test, y_test)
    plain = qn.Network([2, 3, 1], bias=False, loss="mse")  # costs without the penalty term
    plain.set_params(net.get_params())
    runs[label] = (trainer, plain.cost(X, y), plain.cost(X_test, y_test))
    extra = ""
    if method == "BR":
        alpha = float(np.atleast_1d(result.alpha)[0])
        extra = (f"  gamma {result.gamma:.2f} of {net.n_params}, alpha {alpha:.3g}, beta {result.beta:.3g}, "
                 f"equivalent l2 {alpha / (result.beta * len(X)):.2g}")
    print(f"{label:10s} train {runs[label][1]:.2e}  test {runs[label][2]:.2e}  "
          f"|W| {np.linalg.norm(net.params):.2f}{extra}")

# %%
# The cost curves: training (solid) and test (dashed) per iteration. BR's record is its
# objective, in other units, so its panel shows the final costs instead.
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), layout="constrained")
for ax, label in zip(axes[:2], ("l2 = 0", "l2 = 1e-4")):
    trainer = runs[label][0]
    ax.semilogy(trainer.J, label="training")
    ax.semilogy(trainer.testJ, "--", label="test")
    ax.set(title=f"BFGS, {label}", xlabel="iteration", ylabel="cost")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
labels = list(runs)
train = [runs[k][1] for k in labels]
test = [runs[k][2] for k in labels]
pos = np.arange(len(labels))
axes[2].bar(pos - 0.2, train, 0.4, label="training")
axes[2].bar(pos + 0.2, test, 0.4, label="test")
axes[2].set(xticks=pos, xticklabels=labels, yscale="log", ylim=(1e-10, 1), title="final costs (no penalty term)")
axes[2].legend(loc="upper right", ncols=2)
plt.show()
