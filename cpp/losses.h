// Losses, each next to its output delta.
//
// Per-sample loss l_i over the K outputs of sample i (e = y - yhat, z = output pre-activation):
//   sse, mse                 0.5 * sum_k e_k^2
//   binary_crossentropy      sum_k softplus(z_k) - y_k z_k          (sigmoid outputs)
//   softmax_crossentropy     (sum_k y_k) logsumexp(z) - sum_k y_k z_k (softmax outputs)
// The cross-entropies are written in z, not yhat, so no log of a rounded 0 ever happens.
// Whole cost: J = c * sum_i w_i l_i + (l2/2) sum(W^2), with c = 1 for sse and 1/sum(w)
// (1/N without weights) for the others.
// Output weights o (K, >= 0; null: all ones), for sse and mse only, weigh each output's squared
// error: l_i = 0.5 * sum_k o_k e_k^2. Bayesian regularisation uses them for one noise precision
// per output (o = beta) and for one output's share of the curvature (o = e_k). The
// cross-entropies take no output weights (their callers refuse them: check_output_weights).
#pragma once

#include <cstddef>
#include <string>

#include "activations.h"

namespace quasinet {

enum class Loss { SSE, MSE, BinaryCrossentropy, SoftmaxCrossentropy };

Loss parse_loss(const std::string& name);
const char* loss_name(Loss loss);

// True when the loss averages over samples (c = 1/sum(w)); false for sse (c = 1).
inline bool loss_is_mean(Loss loss) { return loss != Loss::SSE; }

// Returns sum_i w_i l_i over the block and, when `delta` is not null, writes
// delta = c * w_i * dl_i/dz (the gradient of J with respect to the output pre-activation).
// `a` is f(z); `z` is only read by the cross-entropies.
double loss_and_delta(Loss loss, Activation out, const double* a /* (B, K) */,
                      const double* z /* (B, K) */, const double* y /* (B, K) */,
                      const double* w /* (B) or null */, const double* o /* (K) or null */, double c,
                      double* delta /* (B, K) or null */,
                      std::size_t rows, std::size_t cols);

// What the curvature passes (curvature.cpp) need of a loss: its curvature in the output
// pre-activation z. With H_i the Hessian of c w_i l_i in z and G_i its Gauss-Newton part
// (J_a = da/dz, e = a - y, O = diag(o), all ones without output weights):
//   sse, mse              G_i = c w_i J_a^T O J_a;  H_i = G_i + c w_i sum_k o_k e_k d2a_k/dz2
//   binary_crossentropy   G_i = H_i = c w_i diag(a (1 - a))
//   softmax_crossentropy  G_i = H_i = c w_i (sum_k y_k) (diag(a) - a a^T)
// r holds R{z} on entry and H_i R{z} (exact) or G_i R{z} on exit, row by row.
void output_curvature_times(Loss loss, Activation out, bool exact, double* r /* (B, K) */,
                            const double* a /* (B, K) */, const double* y /* (B, K) */,
                            const double* w /* (B) or null */, const double* o /* (K) or null */, double c,
                            std::size_t rows, std::size_t cols);

// Seed j of a factorisation G_i = sum_j s_ij s_ij^T, written into s (B, K) for every row:
//   sse, mse              s_ij = sqrt(c w_i o_j) (row j of J_a)
//   binary_crossentropy   s_ij = sqrt(c w_i a_j (1 - a_j)) e_j
//   softmax_crossentropy  s_ij = sqrt(c w_i sum_k y_k) sqrt(a_j) (e_j - a)
// (diag(a) - a a^T = sum_j a_j (e_j - a)(e_j - a)^T when the a_j sum to 1.) Throws
// std::invalid_argument for a softmax row whose targets sum to a negative number, where G_i is
// not positive semi-definite.
void gauss_newton_seed(Loss loss, Activation out, std::size_t j, double* s /* (B, K) */,
                       const double* a /* (B, K) */, const double* y /* (B, K) */,
                       const double* w /* (B) or null */, const double* o /* (K) or null */, double c,
                       std::size_t rows, std::size_t cols);

// Throws std::invalid_argument unless `o` is null or the loss is sse or mse and every o_k is
// finite and >= 0.
void check_output_weights(Loss loss, const double* o, std::size_t cols);

}  // namespace quasinet
