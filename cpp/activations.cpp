#include "activations.h"

#include <cstdint>
#include <cstring>
#include <stdexcept>

// The element-wise loops are compiled for the baseline x86-64 (SSE2) and, when GCC can
// dispatch at load time, also for AVX2+FMA and AVX-512: the same source, picked per machine.
// The clones can differ from each other by contraction into FMA (an ulp or so), never on the
// same machine from call to call.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__ELF__) && \
    !defined(QUASINET_NO_TARGET_CLONES)
#define QN_VECTOR_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define QN_VECTOR_CLONES
#endif
#if defined(__GNUC__)
#define QN_INLINE inline __attribute__((always_inline))
#else
#define QN_INLINE inline
#endif

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

QN_INLINE std::uint64_t bits_of(double x) {
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
QN_INLINE double double_of(std::uint64_t u) {
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

constexpr double kLog2e = 1.4426950408889634074;
// ln 2 split so that k * kLn2Hi is exact for |k| < 2^11 (kLn2Hi has 32 trailing zero bits).
constexpr double kLn2Hi = 6.93147180369123816490e-01;
constexpr double kLn2Lo = 1.90821492927058770002e-10;
// Adding 1.5 * 2^52 rounds a double of magnitude < 2^51 to an integer held in the low bits.
constexpr double kShifter = 6755399441055744.0;

// 2^k for an integer-valued k in [-1022, 1023], given t = k + kShifter.
QN_INLINE double pow2_from_shifted(double t) { return double_of((bits_of(t) + 1023u) << 52); }

// The Taylor polynomial of expm1(r) to degree 13, for |r| <= ln2/2 (+ rounding): the first
// omitted term is < 0.05 ulp of the result.
QN_INLINE double expm1_poly(double r) {
  double q = 1.0 / 6227020800.0;  // 1/13!
  q = q * r + 1.0 / 479001600.0;
  q = q * r + 1.0 / 39916800.0;
  q = q * r + 1.0 / 3628800.0;
  q = q * r + 1.0 / 362880.0;
  q = q * r + 1.0 / 40320.0;
  q = q * r + 1.0 / 5040.0;
  q = q * r + 1.0 / 720.0;
  q = q * r + 1.0 / 120.0;
  q = q * r + 1.0 / 24.0;
  q = q * r + 1.0 / 6.0;
  q = q * r + 0.5;
  q = q * r + 1.0;
  return q * r;  // r + r^2/2 + ... + r^13/13!
}

QN_INLINE double exp_body(double x) {
  // exp(x) is 0 below -745.14 and inf above 709.79: clamping keeps k in range and still
  // rounds to those values.
  const double xc = x < -746.0 ? -746.0 : (x > 710.0 ? 710.0 : x);
  const double t = xc * kLog2e + kShifter;
  const double k = t - kShifter;
  const double r = (xc - k * kLn2Hi) - k * kLn2Lo;
  const double p = 1.0 + expm1_poly(r);
  // 2^k in two factors, each a normal number, so a subnormal result is rounded only once.
  const double t1 = k * 0.5 + kShifter;
  const double k1 = t1 - kShifter;
  const double t2 = (k - k1) + kShifter;
  const double y = (p * pow2_from_shifted(t1)) * pow2_from_shifted(t2);
  return x != x ? x : y;
}

QN_INLINE double tanh_body(double x) {
  const double ax = std::fabs(x);
  // tanh rounds to 1 beyond |x| = 19.06; capping at 20 keeps expm1(2|x|) finite.
  const double u = 2.0 * (ax < 20.0 ? ax : 20.0);
  const double t = u * kLog2e + kShifter;
  const double k = t - kShifter;
  const double r = (u - k * kLn2Hi) - k * kLn2Lo;
  const double s = pow2_from_shifted(t);
  // expm1(u) = 2^k expm1(r) + (2^k - 1): exactly expm1(r) when k = 0, so tiny x keep full
  // relative accuracy; for k >= 1 both terms are >= 0 up to a mild cancellation.
  const double e = s * expm1_poly(r) + (s - 1.0);
  const double y = std::copysign(e / (e + 2.0), x);
  return x != x ? x : y;
}

QN_INLINE double sigmoid_body(double z) {
  const double e = exp_body(-std::fabs(z));
  return (z >= 0.0 ? 1.0 : e) / (1.0 + e);
}

// Element-wise passes over storage of either precision. The functions are always evaluated in
// float64 (z + bias formed in float64, the result rounded once to the storage type), so a
// float32 activation is the correctly rounded float64 one; for double storage the conversions
// are no-ops.
template <class T>
QN_INLINE void tanh_rows_body(T* a, const double* bias, std::size_t rows, std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r) {
    T* row = a + r * cols;
    if (bias) {
      for (std::size_t j = 0; j < cols; ++j) row[j] = static_cast<T>(tanh_body(static_cast<double>(row[j]) + bias[j]));
    } else {
      for (std::size_t j = 0; j < cols; ++j) row[j] = static_cast<T>(tanh_body(static_cast<double>(row[j])));
    }
  }
}

template <class T>
QN_INLINE void sigmoid_rows_body(T* a, const double* bias, std::size_t rows, std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r) {
    T* row = a + r * cols;
    if (bias) {
      for (std::size_t j = 0; j < cols; ++j)
        row[j] = static_cast<T>(sigmoid_body(static_cast<double>(row[j]) + bias[j]));
    } else {
      for (std::size_t j = 0; j < cols; ++j) row[j] = static_cast<T>(sigmoid_body(static_cast<double>(row[j])));
    }
  }
}

QN_VECTOR_CLONES void tanh_rows(double* a, const double* bias, std::size_t rows, std::size_t cols) {
  tanh_rows_body(a, bias, rows, cols);
}
QN_VECTOR_CLONES void tanh_rows(float* a, const double* bias, std::size_t rows, std::size_t cols) {
  tanh_rows_body(a, bias, rows, cols);
}
QN_VECTOR_CLONES void sigmoid_rows(double* a, const double* bias, std::size_t rows, std::size_t cols) {
  sigmoid_rows_body(a, bias, rows, cols);
}
QN_VECTOR_CLONES void sigmoid_rows(float* a, const double* bias, std::size_t rows, std::size_t cols) {
  sigmoid_rows_body(a, bias, rows, cols);
}

QN_VECTOR_CLONES void exp_shifted(double* row, double shift, std::size_t cols) {
  for (std::size_t j = 0; j < cols; ++j) row[j] = exp_body(row[j] - shift);
}

// One tight loop per activation so the compiler sees a branch-free body.
template <class T, class F>
void map_rows(T* a, const double* bias, std::size_t rows, std::size_t cols, F f) {
  for (std::size_t r = 0; r < rows; ++r) {
    T* row = a + r * cols;
    if (bias) {
      for (std::size_t j = 0; j < cols; ++j) row[j] = static_cast<T>(f(static_cast<double>(row[j]) + bias[j]));
    } else {
      for (std::size_t j = 0; j < cols; ++j) row[j] = static_cast<T>(f(static_cast<double>(row[j])));
    }
  }
}

// The element-wise activations (every one but softmax) for either storage type.
template <class T>
void elementwise_activate(Activation f, T* a, const double* bias, std::size_t rows, std::size_t cols, Math math) {
  const bool fast = math == Math::Fast;
  switch (f) {
    case Activation::Sigmoid:
      if (fast) return sigmoid_rows(a, bias, rows, cols);
      map_rows(a, bias, rows, cols, [](double z) { return sigmoid(z); });
      return;
    case Activation::Tanh:
      if (fast) return tanh_rows(a, bias, rows, cols);
      map_rows(a, bias, rows, cols, [](double z) { return std::tanh(z); });
      return;
    // z <= 0 ? 0 : z, not z > 0 ? z : 0: a NaN (inf - inf in an overflowing product) must stay NaN,
    // so that the result is refused, not silently zero.
    case Activation::Relu: map_rows(a, bias, rows, cols, [](double z) { return z <= 0.0 ? 0.0 : z; }); return;
    case Activation::Softplus: map_rows(a, bias, rows, cols, [](double z) { return softplus(z); }); return;
    case Activation::Identity:
      if (bias) map_rows(a, bias, rows, cols, [](double z) { return z; });
      return;
    case Activation::Softmax: break;
  }
  throw std::invalid_argument("softmax is not elementwise: apply it to a row");
}

}  // namespace

double fast_exp(double x) { return exp_body(x); }
double fast_tanh(double x) { return tanh_body(x); }
double fast_sigmoid(double z) { return sigmoid_body(z); }

void bias_activate(Activation f, double* a, const double* bias, std::size_t rows, std::size_t cols, Math math) {
  const bool fast = math == Math::Fast;
  switch (f) {
    case Activation::Sigmoid:
    case Activation::Tanh:
    case Activation::Relu:
    case Activation::Softplus:
    case Activation::Identity:
      return elementwise_activate(f, a, bias, rows, cols, math);
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
        if (fast) {
          exp_shifted(row, zmax, cols);
          for (std::size_t j = 0; j < cols; ++j) sum += row[j];
        } else {
          for (std::size_t j = 0; j < cols; ++j) {
            row[j] = std::exp(row[j] - zmax);
            sum += row[j];
          }
        }
        const double inv = 1.0 / sum;
        for (std::size_t j = 0; j < cols; ++j) row[j] *= inv;
      }
      return;
  }
}

void bias_activate(Activation f, float* a, const double* bias, std::size_t rows, std::size_t cols, Math math) {
  elementwise_activate(f, a, bias, rows, cols, math);
}

namespace {

template <class T>
void derivative_times(Activation f, T* g, const T* a, std::size_t rows, std::size_t cols) {
  const std::size_t n = rows * cols;
  switch (f) {
    case Activation::Sigmoid:
      for (std::size_t i = 0; i < n; ++i) g[i] *= a[i] * (T(1) - a[i]);
      return;
    case Activation::Tanh:
      for (std::size_t i = 0; i < n; ++i) g[i] *= (T(1) - a[i]) * (T(1) + a[i]);
      return;
    case Activation::Relu:
      for (std::size_t i = 0; i < n; ++i) g[i] = a[i] > T(0) ? g[i] : T(0);
      return;
    case Activation::Softplus:
      // softplus'(z) = sigmoid(z) = 1 - e^{-a}; expm1 keeps it accurate when a is tiny.
      for (std::size_t i = 0; i < n; ++i) g[i] *= -std::expm1(-a[i]);
      return;
    case Activation::Identity:
      return;
    case Activation::Softmax:
      for (std::size_t r = 0; r < rows; ++r) {
        T* gr = g + r * cols;
        const T* ar = a + r * cols;
        double dot = 0.0;
        for (std::size_t j = 0; j < cols; ++j) dot += static_cast<double>(ar[j]) * gr[j];
        for (std::size_t j = 0; j < cols; ++j) gr[j] = static_cast<T>(ar[j] * (gr[j] - dot));
      }
      return;
  }
}

template <class T>
QN_INLINE void derivative_sum_body(Activation f, T* __restrict g, const T* __restrict a, std::size_t rows,
                                   std::size_t cols, double* __restrict colsum) {
  for (std::size_t r = 0; r < rows; ++r) {
    T* __restrict gr = g + r * cols;
    const T* __restrict ar = a + r * cols;
    switch (f) {
      case Activation::Sigmoid:
        for (std::size_t j = 0; j < cols; ++j) {
          gr[j] *= ar[j] * (T(1) - ar[j]);
          colsum[j] += gr[j];
        }
        break;
      case Activation::Tanh:
        for (std::size_t j = 0; j < cols; ++j) {
          gr[j] *= (T(1) - ar[j]) * (T(1) + ar[j]);
          colsum[j] += gr[j];
        }
        break;
      case Activation::Relu:
        for (std::size_t j = 0; j < cols; ++j) {
          gr[j] = ar[j] > T(0) ? gr[j] : T(0);
          colsum[j] += gr[j];
        }
        break;
      default:  // identity
        for (std::size_t j = 0; j < cols; ++j) colsum[j] += gr[j];
        break;
    }
  }
}

QN_VECTOR_CLONES void derivative_sum_rows(Activation f, double* g, const double* a, std::size_t rows, std::size_t cols,
                                          double* colsum) {
  derivative_sum_body(f, g, a, rows, cols, colsum);
}
QN_VECTOR_CLONES void derivative_sum_rows(Activation f, float* g, const float* a, std::size_t rows, std::size_t cols,
                                          double* colsum) {
  derivative_sum_body(f, g, a, rows, cols, colsum);
}

template <class T>
void derivative_sum(Activation f, T* g, const T* a, std::size_t rows, std::size_t cols, double* colsum) {
  if (!colsum) return derivative_times(f, g, a, rows, cols);  // no biases: nothing to sum
  switch (f) {
    case Activation::Sigmoid:
    case Activation::Tanh:
    case Activation::Relu:
    case Activation::Identity:
      return derivative_sum_rows(f, g, a, rows, cols, colsum);
    case Activation::Softplus:
    case Activation::Softmax:
      break;
  }
  // Not a cheap elementwise product: two passes.
  derivative_times(f, g, a, rows, cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < cols; ++j) colsum[j] += g[r * cols + j];
}

}  // namespace

void multiply_by_derivative(Activation f, double* g, const double* a, std::size_t rows, std::size_t cols) {
  derivative_times(f, g, a, rows, cols);
}
void multiply_by_derivative(Activation f, float* g, const float* a, std::size_t rows, std::size_t cols) {
  derivative_times(f, g, a, rows, cols);
}

void multiply_by_derivative_sum(Activation f, double* g, const double* a, std::size_t rows, std::size_t cols,
                                double* colsum) {
  derivative_sum(f, g, a, rows, cols, colsum);
}
void multiply_by_derivative_sum(Activation f, float* g, const float* a, std::size_t rows, std::size_t cols,
                                double* colsum) {
  derivative_sum(f, g, a, rows, cols, colsum);
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

void jacobian_row(Activation f, std::size_t j, double* s, const double* a, std::size_t rows, std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r) {
    double* sr = s + r * cols;
    const double* ar = a + r * cols;
    if (f == Activation::Softmax) {
      for (std::size_t k = 0; k < cols; ++k) sr[k] = -ar[j] * ar[k];
      sr[j] += ar[j];
    } else {
      for (std::size_t k = 0; k < cols; ++k) sr[k] = 0.0;
      sr[j] = derivatives_at(f, ar[j]).d1;
    }
  }
}

}  // namespace quasinet
