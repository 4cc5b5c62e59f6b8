// Losses, each next to its output delta.
//
// Per-sample loss l_i over the K outputs of sample i (e = y - yhat, z = output pre-activation):
//   sse, mse                 0.5 * sum_k e_k^2
//   binary_crossentropy      sum_k softplus(z_k) - y_k z_k          (sigmoid outputs)
//   softmax_crossentropy     (sum_k y_k) logsumexp(z) - sum_k y_k z_k (softmax outputs)
// The cross-entropies are written in z, not yhat, so no log of a rounded 0 ever happens.
// Whole cost: J = c * sum_i w_i l_i + (l2/2) sum(W^2), with c = 1 for sse and 1/sum(w)
// (1/N without weights) for the others.
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
                      const double* w /* (B) or null */, double c, double* delta /* (B, K) or null */,
                      std::size_t rows, std::size_t cols);

}  // namespace quasinet
