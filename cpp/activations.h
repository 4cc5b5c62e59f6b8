// Activation functions, each next to its derivative.
//
// Dimension letters used in shape comments across cpp/:
//   B  rows in one block of samples      N  samples in the whole call
//   K  width of the layer being computed P  number of parameters
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

namespace quasinet {

enum class Activation { Sigmoid, Tanh, Relu, Softplus, Identity, Softmax };

// Accepts the canonical names and the aliases "logistic" and "linear";
// throws std::invalid_argument naming the accepted names.
Activation parse_activation(const std::string& name);
const char* activation_name(Activation f);

// Branch on the sign so that exp() only ever sees a non-positive argument:
// finite and correctly rounded for every finite z.
inline double sigmoid(double z) {
  if (z >= 0.0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

// log(1 + e^z) without overflow for large z or cancellation for very negative z.
inline double softplus(double z) {
  return std::max(z, 0.0) + std::log1p(std::exp(-std::fabs(z)));
}

// a = f(z + bias) in place; `bias` (K) may be null. Softmax normalises each row.
void bias_activate(Activation f, double* a /* (B, K) in: z, out: f(z+b) */,
                   const double* bias /* (K) or null */, std::size_t rows, std::size_t cols);

// g = J_f^T g for each row, where J_f is the Jacobian of f at the row's z.
// Written in terms of a = f(z), which is all the backward pass keeps:
//   sigmoid a(1-a); tanh 1-a^2; relu [a>0]; softplus 1-e^{-a}; identity 1;
//   softmax a_j (g_j - sum_k a_k g_k).
void multiply_by_derivative(Activation f, double* g /* (B, K) */, const double* a /* (B, K) */,
                            std::size_t rows, std::size_t cols);

// Elementwise derivative f'(z) for a single value (plots, tests, the notebook's sigmoidPrime).
// Not defined for softmax, which is not elementwise.
double derivative(Activation f, double z);
double apply(Activation f, double z);

}  // namespace quasinet
