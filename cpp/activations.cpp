#include "activations.h"

#include <stdexcept>

namespace quasinet {

Activation parse_activation(const std::string& name) {
  if (name == "sigmoid" || name == "logistic") return Activation::Sigmoid;
  if (name == "tanh") return Activation::Tanh;
  if (name == "relu") return Activation::Relu;
  if (name == "softplus") return Activation::Softplus;
  if (name == "identity" || name == "linear") return Activation::Identity;
  if (name == "softmax") return Activation::Softmax;
  throw std::invalid_argument(
      "unknown activation '" + name +
      "': expected one of sigmoid (logistic), tanh, relu, softplus, identity (linear), softmax");
}

const char* activation_name(Activation f) {
  switch (f) {
    case Activation::Sigmoid: return "sigmoid";
    case Activation::Tanh: return "tanh";
    case Activation::Relu: return "relu";
    case Activation::Softplus: return "softplus";
    case Activation::Identity: return "identity";
    case Activation::Softmax: return "softmax";
  }
  return "?";
}

namespace {

// One tight loop per activation so the compiler sees a branch-free body.
template <class F>
void map_rows(double* a, const double* bias, std::size_t rows, std::size_t cols, F f) {
  for (std::size_t r = 0; r < rows; ++r) {
    double* row = a + r * cols;
    if (bias) {
      for (std::size_t j = 0; j < cols; ++j) row[j] = f(row[j] + bias[j]);
    } else {
      for (std::size_t j = 0; j < cols; ++j) row[j] = f(row[j]);
    }
  }
}

}  // namespace

void bias_activate(Activation f, double* a, const double* bias, std::size_t rows, std::size_t cols) {
  switch (f) {
    case Activation::Sigmoid: map_rows(a, bias, rows, cols, [](double z) { return sigmoid(z); }); return;
    case Activation::Tanh: map_rows(a, bias, rows, cols, [](double z) { return std::tanh(z); }); return;
    case Activation::Relu: map_rows(a, bias, rows, cols, [](double z) { return z > 0.0 ? z : 0.0; }); return;
    case Activation::Softplus: map_rows(a, bias, rows, cols, [](double z) { return softplus(z); }); return;
    case Activation::Identity:
      if (bias) map_rows(a, bias, rows, cols, [](double z) { return z; });
      return;
    case Activation::Softmax:
      for (std::size_t r = 0; r < rows; ++r) {
        double* row = a + r * cols;
        double zmax = -INFINITY;
        for (std::size_t j = 0; j < cols; ++j) {
          if (bias) row[j] += bias[j];
          zmax = std::max(zmax, row[j]);
        }
        // Shift by the row maximum: every exponent is <= 0, the sum is >= 1.
        double sum = 0.0;
        for (std::size_t j = 0; j < cols; ++j) {
          row[j] = std::exp(row[j] - zmax);
          sum += row[j];
        }
        const double inv = 1.0 / sum;
        for (std::size_t j = 0; j < cols; ++j) row[j] *= inv;
      }
      return;
  }
}

void multiply_by_derivative(Activation f, double* g, const double* a, std::size_t rows, std::size_t cols) {
  const std::size_t n = rows * cols;
  switch (f) {
    case Activation::Sigmoid:
      for (std::size_t i = 0; i < n; ++i) g[i] *= a[i] * (1.0 - a[i]);
      return;
    case Activation::Tanh:
      for (std::size_t i = 0; i < n; ++i) g[i] *= (1.0 - a[i]) * (1.0 + a[i]);
      return;
    case Activation::Relu:
      for (std::size_t i = 0; i < n; ++i) g[i] = a[i] > 0.0 ? g[i] : 0.0;
      return;
    case Activation::Softplus:
      // softplus'(z) = sigmoid(z) = 1 - e^{-a}; expm1 keeps it accurate when a is tiny.
      for (std::size_t i = 0; i < n; ++i) g[i] *= -std::expm1(-a[i]);
      return;
    case Activation::Identity:
      return;
    case Activation::Softmax:
      for (std::size_t r = 0; r < rows; ++r) {
        double* gr = g + r * cols;
        const double* ar = a + r * cols;
        double dot = 0.0;
        for (std::size_t j = 0; j < cols; ++j) dot += ar[j] * gr[j];
        for (std::size_t j = 0; j < cols; ++j) gr[j] = ar[j] * (gr[j] - dot);
      }
      return;
  }
}

double apply(Activation f, double z) {
  if (f == Activation::Softmax) throw std::invalid_argument("softmax is not elementwise: apply it to a row");
  bias_activate(f, &z, nullptr, 1, 1);
  return z;
}

double derivative(Activation f, double z) {
  switch (f) {
    case Activation::Sigmoid: {
      // e/(1+e)^2 with e = exp(-|z|): no cancellation in the tails (s(1-s) would round 1-s).
      const double e = std::exp(-std::fabs(z));
      return e / ((1.0 + e) * (1.0 + e));
    }
    case Activation::Tanh: {
      // sech^2 directly; 1 - tanh^2 cancels once tanh rounds to +-1.
      const double c = std::cosh(z);
      return 1.0 / (c * c);
    }
    case Activation::Relu: return z > 0.0 ? 1.0 : 0.0;
    case Activation::Softplus: return sigmoid(z);
    case Activation::Identity: return 1.0;
    case Activation::Softmax: break;
  }
  throw std::invalid_argument("softmax is not elementwise: it has no scalar derivative");
}

}  // namespace quasinet
