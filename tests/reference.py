"""A plain-NumPy reference for the network, written from the formulas, independent of the core.

Layout: for each layer, W (n_in, n_out) row-major, then b (n_out) when biases are on.
Cost: J = c * sum_i w_i l_i + (l2/2) sum W^2 with c = 1 (sse) or 1/sum(w) (the others).
"""

import numpy as np
from scipy.special import expit


def unpack(params, sizes, bias):
    Ws, bs, off = [], [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        Ws.append(params[off : off + n_in * n_out].reshape(n_in, n_out))
        off += n_in * n_out
        if bias:
            bs.append(params[off : off + n_out])
            off += n_out
        else:
            bs.append(np.zeros(n_out))
    assert off == params.size
    return Ws, bs


def n_params(sizes, bias):
    return sum(a * b + (b if bias else 0) for a, b in zip(sizes[:-1], sizes[1:]))


def act(name, z):
    if name == "sigmoid":
        return expit(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "softplus":
        return np.logaddexp(0.0, z)
    if name == "identity":
        return z.copy()
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def act_prime(name, z):
    if name == "sigmoid":
        return expit(z) * expit(-z)
    if name == "tanh":
        return 1.0 / np.cosh(z) ** 2
    if name == "relu":
        return (z > 0).astype(float)
    if name == "softplus":
        return act("sigmoid", z)
    if name == "identity":
        return np.ones_like(z)
    raise ValueError(name)


def forward(params, sizes, hidden, output, bias, X):
    """Returns the list of (z, a) per layer."""
    Ws, bs = unpack(params, sizes, bias)
    out, a = [], X
    for l, (W, b) in enumerate(zip(Ws, bs)):
        z = a @ W + b
        a = act(output if l == len(Ws) - 1 else hidden, z)
        out.append((z, a))
    return out


def _scale(loss, w, N):
    return 1.0 if loss == "sse" else 1.0 / (w.sum() if w is not None else N)


def cost(params, sizes, hidden, output, bias, loss, l2, X, Y, w=None):
    Ws, _ = unpack(params, sizes, bias)
    z, a = forward(params, sizes, hidden, output, bias, X)[-1]
    wv = np.ones(X.shape[0]) if w is None else w
    if loss in ("sse", "mse"):
        per = 0.5 * np.sum((Y - a) ** 2, axis=1)
    elif loss == "binary_crossentropy":
        per = np.sum(np.logaddexp(0.0, z) - Y * z, axis=1)  # = -y log a - (1-y) log(1-a)
    elif loss == "softmax_crossentropy":
        lse = np.logaddexp.reduce(z, axis=1)
        per = -np.sum(Y * (z - lse[:, None]), axis=1)  # = -sum y log softmax(z)
    else:
        raise ValueError(loss)
    return _scale(loss, w, X.shape[0]) * np.sum(wv * per) + 0.5 * l2 * sum(np.sum(W * W) for W in Ws)


def grad(params, sizes, hidden, output, bias, loss, l2, X, Y, w=None):
    Ws, _ = unpack(params, sizes, bias)
    layers = forward(params, sizes, hidden, output, bias, X)
    c = _scale(loss, w, X.shape[0])
    wv = (np.ones(X.shape[0]) if w is None else w)[:, None]
    z, a = layers[-1]
    if loss in ("sse", "mse"):
        dJda = c * wv * (a - Y)
        if output == "softmax":
            # Jacobian of softmax per row: diag(a) - a a^T (symmetric).
            delta = np.einsum("nij,nj->ni", np.einsum("ni,ij->nij", a, np.eye(a.shape[1])) - a[:, :, None] * a[:, None, :], dJda)
        else:
            delta = dJda * act_prime(output, z)
    elif loss == "binary_crossentropy":
        delta = c * wv * (a - Y)
    else:
        delta = c * wv * (Y.sum(axis=1, keepdims=True) * a - Y)
    gW, gb = [None] * len(Ws), [None] * len(Ws)
    for l in range(len(Ws) - 1, -1, -1):
        a_prev = X if l == 0 else layers[l - 1][1]
        gW[l] = a_prev.T @ delta + l2 * Ws[l]
        gb[l] = delta.sum(axis=0)
        if l > 0:
            delta = (delta @ Ws[l].T) * act_prime(hidden, layers[l - 1][0])
    flat = []
    for l in range(len(Ws)):
        flat.append(gW[l].ravel())
        if bias:
            flat.append(gb[l])
    return np.concatenate(flat)


def rel_err(got, ref):
    """norm(got - ref) / norm(ref), 0 when both are zero."""
    got, ref = np.asarray(got, float), np.asarray(ref, float)
    d = np.linalg.norm(got - ref)
    n = np.linalg.norm(ref)
    return d if n == 0 else d / n


def targets(rng, loss, output, N, K):
    """Targets suited to a loss/output pairing."""
    if loss == "softmax_crossentropy":
        return rng.dirichlet(np.ones(K), size=N)
    if loss == "binary_crossentropy" or output == "sigmoid":
        return rng.uniform(0.05, 0.95, size=(N, K))
    if output == "softmax":
        return rng.dirichlet(np.ones(K), size=N)
    if output in ("relu", "softplus"):
        return rng.uniform(0.1, 2.0, size=(N, K))
    if output == "tanh":
        return rng.uniform(-0.9, 0.9, size=(N, K))
    return rng.normal(size=(N, K))
