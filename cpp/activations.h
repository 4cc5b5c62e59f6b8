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

// Which implementation of exp and tanh the element-wise passes use. Std: the C library's
// (what the reference kernel uses, the readable specification). Fast: the branch-free
// polynomial versions below, which the compiler vectorises; within a few ulp of Std
// (tests/test_speed_paths.py checks this against std:: over the whole range).
enum class Math { Std, Fast };

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

// exp(x) for every double x (overflow to inf, gradual underflow to 0, NaN kept), within
// ~1 ulp: x = k ln2 + r with |r| <= ln2/2, exp(r) by its Taylor polynomial to degree 13
// (truncation < 0.05 ulp), times 2^k applied in two halves so subnormal results round once.
// No branches, no calls: a loop over it vectorises.
double fast_exp(double x);
// tanh(x) = sign(x) e / (e + 2) with e = expm1(2|x|), expm1 by the same reduction (the
// k = 0 case keeps full relative accuracy near 0); within ~3 ulp.
double fast_tanh(double x);
// sigmoid(z) = 1/(1+e) (z >= 0) or e/(1+e) (z < 0) with e = fast_exp(-|z|).
double fast_sigmoid(double z);

// a = f(z + bias) in place; `bias` (K) may be null. Softmax normalises each row.
void bias_activate(Activation f, double* a /* (B, K) in: z, out: f(z+b) */,
                   const double* bias /* (K) or null */, std::size_t rows, std::size_t cols,
                   Math math = Math::Std);
// float32 storage (the float32 path's hidden layers): z + b and f are evaluated in float64 and
// rounded once to float32. Element-wise activations only (softmax throws).
void bias_activate(Activation f, float* a /* (B, K) */, const double* bias /* (K) or null */, std::size_t rows,
                   std::size_t cols, Math math = Math::Std);

// g = J_f^T g for each row, where J_f is the Jacobian of f at the row's z.
// Written in terms of a = f(z), which is all the backward pass keeps:
//   sigmoid a(1-a); tanh 1-a^2; relu [a>0]; softplus 1-e^{-a}; identity 1;
//   softmax a_j (g_j - sum_k a_k g_k).
void multiply_by_derivative(Activation f, double* g /* (B, K) */, const double* a /* (B, K) */,
                            std::size_t rows, std::size_t cols);
void multiply_by_derivative(Activation f, float* g /* (B, K) */, const float* a /* (B, K) */, std::size_t rows,
                            std::size_t cols);

// The same, fused with the next step of backpropagation: also adds the column sums of the
// result into colsum (K) (the bias gradient of the layer), in one pass over the block. A null
// colsum (a network without biases) sums nothing: multiply_by_derivative alone.
void multiply_by_derivative_sum(Activation f, double* g /* (B, K) */, const double* a /* (B, K) */,
                                std::size_t rows, std::size_t cols, double* colsum /* (K) */);
// float32 storage; the column sums are accumulated in float64.
void multiply_by_derivative_sum(Activation f, float* g /* (B, K) */, const float* a /* (B, K) */, std::size_t rows,
                                std::size_t cols, double* colsum /* (K) */);

// First and second derivative of an elementwise f at the point where f(z) = a, written in
// terms of a (what the forward pass keeps), for the curvature passes (curvature.cpp):
//   sigmoid a(1-a), a(1-a)(1-2a); tanh 1-a^2, -2a(1-a^2); relu [a>0], 0;
//   softplus s = 1-e^{-a} (= sigmoid(z)), s e^{-a} (= s(1-s)); identity 1, 0.
// Softmax is not elementwise: its Jacobian diag(a) - a a^T is symmetric, so
// multiply_by_derivative applies it (R{a} = J_f R{z}) for every f.
struct Derivatives {
  double d1, d2;
};
inline Derivatives derivatives_at(Activation f, double a) {
  switch (f) {
    case Activation::Sigmoid: {
      const double d1 = a * (1.0 - a);
      return {d1, d1 * (1.0 - 2.0 * a)};
    }
    case Activation::Tanh: {
      const double d1 = (1.0 - a) * (1.0 + a);
      return {d1, -2.0 * a * d1};
    }
    case Activation::Relu: return {a > 0.0 ? 1.0 : 0.0, 0.0};
    case Activation::Softplus: {
      const double e = std::exp(-a);
      const double s = -std::expm1(-a);  // accurate when a is tiny
      return {s, s * e};
    }
    case Activation::Identity:
    case Activation::Softmax: break;
  }
  return {1.0, 0.0};
}

// Row j of the output Jacobian da/dz for every row, written into s (B, K): f'(z_j) e_j for
// an elementwise f, a_j (e_j - a) for softmax.
void jacobian_row(Activation f, std::size_t j, double* s /* (B, K) */, const double* a /* (B, K) */,
                  std::size_t rows, std::size_t cols);

// Elementwise derivative f'(z) for a single value (plots, tests, the notebook's sigmoidPrime).
// Not defined for softmax, which is not elementwise.
double derivative(Activation f, double z);
double apply(Activation f, double z);

}  // namespace quasinet
