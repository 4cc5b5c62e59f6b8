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


# -- curvature ----------------------------------------------------------------------------------
# Written from the definitions, per sample and without the core's factorisations: explicit
# per-row Jacobians (one unit seed per output, backpropagated row by row), explicit output
# Hessians H_i, and the exact Hessian-vector product by complex-step differentiation of the
# gradient formula above (analytic in the parameters, so Hv = Im(grad(p + i h v)) / h is exact
# to rounding for tiny h: no subtraction, no truncation error).


def _act_c(name, z):
    """Activations that accept complex arguments (for the complex step)."""
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(z.real > 0, z, 0.0)
    if name == "softplus":
        return np.log(1.0 + np.exp(z))
    if name == "identity":
        return z.copy()
    if name == "softmax":
        e = np.exp(z - z.real.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def _act_prime_c(name, z):
    if name == "sigmoid":
        s = _act_c("sigmoid", z)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "relu":
        return (z.real > 0).astype(float)
    if name == "softplus":
        return _act_c("sigmoid", z)
    if name == "identity":
        return np.ones_like(z)
    raise ValueError(name)


def _grad_c(params, sizes, hidden, output, bias, loss, l2, X, Y, w=None):
    """The gradient formula of :func:`grad`, written so that complex parameters pass through."""
    Ws, bs = unpack(params, sizes, bias)
    zs, acts, a = [], [], X
    for l, (W, b) in enumerate(zip(Ws, bs)):
        z = a @ W + b
        a = _act_c(output if l == len(Ws) - 1 else hidden, z)
        zs.append(z)
        acts.append(a)
    c = _scale(loss, w, X.shape[0])
    wv = (np.ones(X.shape[0]) if w is None else w)[:, None]
    z, a = zs[-1], acts[-1]
    if loss in ("sse", "mse"):
        dJda = c * wv * (a - Y)
        if output == "softmax":
            delta = a * (dJda - np.sum(a * dJda, axis=1, keepdims=True))
        else:
            delta = dJda * _act_prime_c(output, z)
    elif loss == "binary_crossentropy":
        delta = c * wv * (a - Y)
    else:
        delta = c * wv * (Y.sum(axis=1, keepdims=True) * a - Y)
    flat = [None] * (2 * len(Ws))
    for l in range(len(Ws) - 1, -1, -1):
        a_prev = X if l == 0 else acts[l - 1]
        flat[2 * l] = (a_prev.T @ delta + l2 * Ws[l]).ravel()
        flat[2 * l + 1] = delta.sum(axis=0) if bias else np.zeros(0)
        if l > 0:
            delta = (delta @ Ws[l].T) * _act_prime_c(hidden, zs[l - 1])
    return np.concatenate(flat)


def hessp(params, sizes, hidden, output, bias, loss, l2, X, Y, v, w=None, h=1e-30):
    """Exact H v by the complex step of the gradient."""
    p = params.astype(complex) + 1j * h * np.asarray(v, float)
    return _grad_c(p, sizes, hidden, output, bias, loss, l2, X, Y, w).imag / h


def hessian(params, sizes, hidden, output, bias, loss, l2, X, Y, w=None):
    """The full exact Hessian, one complex step per column."""
    P = params.size
    return np.column_stack(
        [hessp(params, sizes, hidden, output, bias, loss, l2, X, Y, np.eye(P)[j], w) for j in range(P)]
    )


def output_jacobian(name, z):
    """da/dz per row, (N, K, K): diag(f'(z)), or diag(a) - a a^T for softmax."""
    if name == "softmax":
        a = act("softmax", z)
        return np.einsum("nj,jk->njk", a, np.eye(a.shape[1])) - a[:, :, None] * a[:, None, :]
    return np.einsum("nj,jk->njk", act_prime(name, z), np.eye(z.shape[1]))


def jacobian_z(params, sizes, hidden, output, bias, X):
    """d z_L / d params per row, (N, K, P): a unit seed per output, backpropagated row by row."""
    Ws, _ = unpack(params, sizes, bias)
    layers = forward(params, sizes, hidden, output, bias, X)
    N, K = X.shape[0], sizes[-1]
    out = np.zeros((N, K, params.size))
    for j in range(K):
        delta = np.zeros((N, K))
        delta[:, j] = 1.0
        blocks = [None] * len(Ws)
        for l in range(len(Ws) - 1, -1, -1):
            a_prev = X if l == 0 else layers[l - 1][1]
            per_row_W = np.einsum("ni,no->nio", a_prev, delta).reshape(N, -1)  # row n: outer(a_prev[n], delta[n])
            blocks[l] = [per_row_W] + ([delta.copy()] if bias else [])
            if l > 0:
                delta = (delta @ Ws[l].T) * act_prime(hidden, layers[l - 1][0])
        out[:, j, :] = np.hstack([b for blk in blocks for b in blk])
    return out


def jacobian(params, sizes, hidden, output, bias, X):
    """d a_L / d params per row, (N, K, P) = (da/dz) (dz/dparams)."""
    z = forward(params, sizes, hidden, output, bias, X)[-1][0]
    return np.einsum("nkj,njp->nkp", output_jacobian(output, z), jacobian_z(params, sizes, hidden, output, bias, X))


def output_hessian_gn(loss, output, z, Y):
    """H_i per row (N, K, K) of the Gauss-Newton matrix, in z."""
    a = act(output, z)
    if loss in ("sse", "mse"):
        Ja = output_jacobian(output, z)
        return np.einsum("nji,njk->nik", Ja, Ja)
    if loss == "binary_crossentropy":
        return np.einsum("nj,jk->njk", a * (1.0 - a), np.eye(a.shape[1]))
    return Y.sum(axis=1)[:, None, None] * output_jacobian("softmax", z)


def gauss_newton(params, sizes, hidden, output, bias, loss, l2, X, Y, w=None):
    """G = c sum_i w_i Jz_i^T H_i Jz_i + l2 on the weight entries of the diagonal."""
    z = forward(params, sizes, hidden, output, bias, X)[-1][0]
    Jz = jacobian_z(params, sizes, hidden, output, bias, X)
    H = output_hessian_gn(loss, output, z, Y)
    wv = np.ones(X.shape[0]) if w is None else w
    G = _scale(loss, w, X.shape[0]) * np.einsum("n,nkp,nkj,njq->pq", wv, Jz, H, Jz)
    off = 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        idx = np.arange(off, off + n_in * n_out)
        G[idx, idx] += l2
        off += n_in * n_out + (n_out if bias else 0)
    return G


def output_terms(net, Xs):
    """A network's output pre-activations z (N, K) and the magnitudes of the terms that sum to
    them, |h| |W| + |b| with h the last hidden layer (the rounding scale of z)."""
    sizes = list(net.layer_sizes)
    layers = forward(net.params, sizes, net.activation, net.output_activation, net.bias, Xs)
    Ws, bs = unpack(net.params, sizes, net.bias)
    h = Xs if len(layers) == 1 else layers[-2][1]
    return layers[-1][0], np.abs(h) @ np.abs(Ws[-1]) + np.abs(bs[-1])
