// The input Jacobian J[i, k, j] = d out[i, k] / d X[i, j] of the network, exactly, by the
// chain rule through every layer, in one of two orders:
//
//   Reverse: for each output k a backward pass seeded with e_k, down to the inputs:
//            g_L = J_f(z_L)^T e_k,  g_{l-1} = J_f(z_{l-1})^T (g_l W_l^T),  J[i, k, :] = g_1 W_1^T.
//   Forward: for each input j a tangent pushed up from the inputs:
//            t_1 = J_f(z_1) W_1[j, :],  t_{l+1} = J_f(z_{l+1}) (t_l W_{l+1}),  J[i, :, j] = t_L.
//
// Both use f'(z) computed from z (activations.h, derivative), not from a = f(z) as the
// gradient does, so saturated units keep their relative accuracy.
// Every (sample, seed) pair is one row of a product: the seeds of several samples are
// stacked into one (R, K) matrix per layer, R = samples x seeds <= the block's row count, so
// each layer costs one dgemm, and the workspace of the forward pass (delta and delta_prev,
// B x widest) holds them: nothing is allocated per call once the pool is warm.
//
// Dimension letters: N samples, B rows of a block, R stacked seed rows, n_l layer widths.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "network.h"
#include "network_detail.h"

namespace quasinet {

namespace {

// g (n_samples * n_seeds, K): each row times J_f at the row's sample, given D (n_samples, K):
// f'(z) for an elementwise f, the probabilities p for softmax. J_f is symmetric for every
// activation here (diagonal, or softmax's diag(p) - p p^T), so this is both the
// vector-Jacobian product of the reverse order and the Jacobian-vector product of the
// forward order.
void times_derivative(Activation f, double* g, const double* D, std::size_t n_samples, std::size_t n_seeds,
                      std::size_t K) {
  for (std::size_t i = 0; i < n_samples; ++i) {
    const double* d = D + i * K;
    for (std::size_t s = 0; s < n_seeds; ++s) {
      double* row = g + (i * n_seeds + s) * K;
      if (f == Activation::Softmax) {
        double dot = 0.0;
        for (std::size_t j = 0; j < K; ++j) dot += d[j] * row[j];
        for (std::size_t j = 0; j < K; ++j) row[j] = d[j] * (row[j] - dot);
      } else if (f != Activation::Identity) {
        for (std::size_t j = 0; j < K; ++j) row[j] *= d[j];
      }
    }
  }
}

// The same for softmax in the forward order, without cancellation: with sum_m p_m = 1,
// p_k (t_k - sum_m p_m t_m) = p_k sum_{m != k} p_m (t_k - t_m), which keeps the relative
// accuracy of a saturated output (p_k = 1 - 1e-9) that the first form loses. O(K^2) per row.
void times_softmax_jacobian(double* g, const double* P, std::size_t n_samples, std::size_t n_seeds, std::size_t K,
                            double* row_copy /* (K) */) {
  for (std::size_t i = 0; i < n_samples; ++i) {
    const double* p = P + i * K;
    for (std::size_t s = 0; s < n_seeds; ++s) {
      double* row = g + (i * n_seeds + s) * K;
      std::copy(row, row + K, row_copy);
      for (std::size_t k = 0; k < K; ++k) {
        double sum = 0.0;
        for (std::size_t m = 0; m < K; ++m)
          if (m != k) sum += p[m] * (row_copy[k] - row_copy[m]);
        row[k] = p[k] * sum;
      }
    }
  }
}

// derivative() (activations.h) with fast_exp in place of std::exp and std::cosh: the same
// formulas, free of cancellation in the tails, within a few ulp of it.
double fast_derivative(Activation f, double z) {
  switch (f) {
    case Activation::Sigmoid: {
      const double e = fast_exp(-std::fabs(z));
      return e / ((1.0 + e) * (1.0 + e));
    }
    case Activation::Tanh: {
      // sech^2 z = 4 e / (1 + e)^2 with e = exp(-2|z|).
      const double e = fast_exp(-2.0 * std::fabs(z));
      return 4.0 * e / ((1.0 + e) * (1.0 + e));
    }
    case Activation::Softplus: return fast_sigmoid(z);
    default: return derivative(f, z);
  }
}

}  // namespace

// The forward pass of one block, keeping f'(z) of every layer (softmax: p) in ws.act(l), from
// z itself: accurate to the last bits also where a unit saturates (a(1 - a) from a rounded
// a = 1 - 1e-17 would be 0). The activations themselves pass through ws.delta and
// ws.delta_prev (B x widest), which the seeds reuse afterwards.
void Network::forward_derivatives(Workspace& ws, const double* params, const double* x, std::size_t rows,
                                  Kernel kernel) const {
  const std::size_t L = layout_.layers.size();
  const Math math = detail::math_for(kernel);
  const double* in = x;       // (B, n_in): the previous layer's activations
  double* a = ws.delta.data();  // (B, n_out) this layer's activations
  double* a_other = ws.delta_prev.data();
  for (std::size_t l = 0; l < L; ++l) {
    const LayerLayout& layer = layout_.layers[l];
    const Activation f = l + 1 == L ? spec_.output : spec_.hidden;
    double* z = ws.act(l);  // (B, n_out)
    const std::size_t n = rows * layer.n_out;
    gemm(kernel, false, false, rows, layer.n_out, layer.n_in, 1.0, in, layer.n_in, params + layer.w, layer.n_out, 0.0,
         z, layer.n_out);
    if (spec_.bias) bias_activate(Activation::Identity, z, params + layer.b, rows, layer.n_out);
    if (f == Activation::Softmax) {
      bias_activate(f, z, nullptr, rows, layer.n_out, math);  // only ever the output layer
      break;
    }
    if (l + 1 < L) {
      std::copy(z, z + n, a);
      bias_activate(f, a, nullptr, rows, layer.n_out, math);
    }
    if (math == Math::Std) {
      for (std::size_t i = 0; i < n; ++i) z[i] = derivative(f, z[i]);
    } else {
      for (std::size_t i = 0; i < n; ++i) z[i] = fast_derivative(f, z[i]);
    }
    in = a;
    std::swap(a, a_other);
  }
}

Network::JacobianMode Network::jacobian_mode(JacobianMode requested) const {
  if (requested != JacobianMode::Auto) return requested;
  // Multiply-adds per sample. Reverse: n_L seeds through every layer's W (the first one
  // included, it produces the n_0 columns). Forward: n_0 seeds; the first layer's product
  // with the unit tangents is a copy of W_1's rows (n_0 n_1 element products), the others
  // are products.
  const std::vector<std::size_t>& n = spec_.sizes;
  double layers = 0.0;
  for (std::size_t l = 1; l + 1 < n.size(); ++l) layers += static_cast<double>(n[l]) * static_cast<double>(n[l + 1]);
  const double first = static_cast<double>(n[0]) * static_cast<double>(n[1]);
  const double reverse = static_cast<double>(n_outputs()) * (first + layers);
  double forward = static_cast<double>(n_inputs()) * (layers + static_cast<double>(n[1]));
  // The forward order's softmax step is quadratic in the outputs (times_softmax_jacobian).
  if (spec_.output == Activation::Softmax)
    forward += static_cast<double>(n_inputs()) * static_cast<double>(n_outputs()) * static_cast<double>(n_outputs());
  return forward < reverse ? JacobianMode::Forward : JacobianMode::Reverse;
}

void Network::input_jacobian(double* J, const double* params, const double* X, std::size_t N, const Options& opt,
                             JacobianMode requested) const {
  if (!J) throw std::invalid_argument("null pointer passed for J");
  detail::check_call(params, X, N);
  const JacobianMode mode = jacobian_mode(requested);
  const std::size_t L = layout_.layers.size();
  const std::size_t n0 = n_inputs(), nL = n_outputs();
  const std::size_t seeds = mode == JacobianMode::Reverse ? nL : n0;
  const Kernel kernel = opt.kernel;
  // Rows of the stacked seed matrices: the block's row count, which delta and delta_prev
  // (B x widest) are sized for.
  const std::size_t B = std::min(block_rows(opt), N);

  // One block of rows [r0, r0 + rows): a forward pass that keeps, per layer, the derivative
  // f'(z) (softmax: the probabilities) in ws.act(l) instead of the activation, then the
  // seeds in batches of whole samples (or, with more seeds than B, one sample's seeds in
  // slices of B).
  const auto block = [&](Workspace& ws, std::size_t r0, std::size_t rows) {
    const double* x = X + r0 * n0;  // (rows, n0)
    forward_derivatives(ws, params, x, rows, kernel);
    const auto batch = [&](std::size_t i0, std::size_t ns, std::size_t k0, std::size_t nk) {
      // Samples r0+i0 .. r0+i0+ns-1, seeds k0 .. k0+nk-1: R = ns * nk stacked rows.
      const std::size_t R = ns * nk;
      double* d = ws.delta.data();            // (R, n_l)
      double* d_other = ws.delta_prev.data();  // (R, n_l')
      if (mode == JacobianMode::Reverse) {
        const double* dL = ws.act(L - 1) + i0 * nL;  // (ns, nL) f'(z) or p
        if (spec_.output == Activation::Softmax) {
          // d p_k / d z_j = p_k (delta_jk - p_j), with 1 - p_k summed as the other
          // probabilities: a confident p_k = 1 - 1e-9 keeps the relative accuracy of 1 - p_k.
          for (std::size_t i = 0; i < ns; ++i) {
            const double* p = dL + i * nL;
            for (std::size_t s = 0; s < nk; ++s) {
              const std::size_t k = k0 + s;
              double* row = d + (i * nk + s) * nL;
              double others = 0.0;
              for (std::size_t j = 0; j < nL; ++j) {
                row[j] = -p[k] * p[j];
                if (j != k) others += p[j];
              }
              row[k] = p[k] * others;
            }
          }
        } else {
          std::fill(d, d + R * nL, 0.0);
          for (std::size_t i = 0; i < ns; ++i)
            for (std::size_t s = 0; s < nk; ++s) d[(i * nk + s) * nL + k0 + s] = 1.0;
          times_derivative(spec_.output, d, dL, ns, nk, nL);
        }
        for (std::size_t l = L; l-- > 0;) {
          const LayerLayout& layer = layout_.layers[l];
          if (l == 0) {
            // The last product lands in J itself: rows (i, k0..k0+nk) of sample r0+i0+i are
            // contiguous there, and so are consecutive whole samples (nk == nL).
            double* out = J + ((r0 + i0) * nL + k0) * n0;
            gemm(kernel, false, true, R, n0, layer.n_out, 1.0, d, layer.n_out, params + layer.w, layer.n_out, 0.0,
                 out, n0);
            break;
          }
          gemm(kernel, false, true, R, layer.n_in, layer.n_out, 1.0, d, layer.n_out, params + layer.w, layer.n_out,
               0.0, d_other, layer.n_in);
          times_derivative(spec_.hidden, d_other, ws.act(l - 1) + i0 * layer.n_in, ns, nk, layer.n_in);
          std::swap(d, d_other);
        }
      } else {
        // t_1: rows of W_1 for the seeded inputs, one copy per sample, through f'(z_1).
        const LayerLayout& first = layout_.layers[0];
        const double* W1 = params + first.w;  // (n0, n1)
        for (std::size_t i = 0; i < ns; ++i)
          std::copy(W1 + k0 * first.n_out, W1 + (k0 + nk) * first.n_out, d + i * nk * first.n_out);
        for (std::size_t l = 0; l < L; ++l) {
          const LayerLayout& layer = layout_.layers[l];
          if (l > 0) {
            gemm(kernel, false, false, R, layer.n_out, layer.n_in, 1.0, d, layer.n_in, params + layer.w, layer.n_out,
                 0.0, d_other, layer.n_out);
            std::swap(d, d_other);
          }
          const double* D = ws.act(l) + i0 * layer.n_out;  // (ns, n_out) f'(z) or p
          if (l + 1 == L && spec_.output == Activation::Softmax)
            times_softmax_jacobian(d, D, ns, nk, nL, ws.z_out.data());
          else
            times_derivative(l + 1 == L ? spec_.output : spec_.hidden, d, D, ns, nk, layer.n_out);
        }
        // d (R, nL) holds J[i, :, k0 + s] in row (i, s): transpose into place.
        for (std::size_t i = 0; i < ns; ++i) {
          double* Ji = J + (r0 + i0 + i) * nL * n0;  // (nL, n0)
          for (std::size_t s = 0; s < nk; ++s) {
            const double* row = d + (i * nk + s) * nL;
            for (std::size_t k = 0; k < nL; ++k) Ji[k * n0 + k0 + s] = row[k];
          }
        }
      }
    };
    if (seeds <= B) {
      const std::size_t per = B / seeds;  // whole samples per batch
      for (std::size_t i0 = 0; i0 < rows; i0 += per) batch(i0, std::min(per, rows - i0), 0, seeds);
    } else {
      for (std::size_t i0 = 0; i0 < rows; ++i0)
        for (std::size_t k0 = 0; k0 < seeds; k0 += B) batch(i0, 1, k0, std::min(B, seeds - k0));
    }
  };

  // Every block writes its own rows of J: nothing to reduce, and the result does not depend
  // on the thread count.
  run_blocks(nullptr, N, opt, [&](Workspace& ws, double*, std::size_t r0, std::size_t rows) {
    block(ws, r0, rows);
    return 0.0;
  });
}

}  // namespace quasinet
