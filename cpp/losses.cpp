#include "losses.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace quasinet {

Loss parse_loss(const std::string& name) {
  if (name == "sse") return Loss::SSE;
  if (name == "mse") return Loss::MSE;
  if (name == "binary_crossentropy") return Loss::BinaryCrossentropy;
  if (name == "softmax_crossentropy") return Loss::SoftmaxCrossentropy;
  throw std::invalid_argument("unknown loss '" + name +
                              "': expected one of sse, mse, binary_crossentropy, softmax_crossentropy");
}

const char* loss_name(Loss loss) {
  switch (loss) {
    case Loss::SSE: return "sse";
    case Loss::MSE: return "mse";
    case Loss::BinaryCrossentropy: return "binary_crossentropy";
    case Loss::SoftmaxCrossentropy: return "softmax_crossentropy";
  }
  return "?";
}

void check_output_weights(Loss loss, const double* o, std::size_t cols) {
  if (!o) return;
  if (loss != Loss::SSE && loss != Loss::MSE)
    throw std::invalid_argument(std::string("output weights apply to the sse and mse losses only, not to ") +
                                loss_name(loss));
  for (std::size_t k = 0; k < cols; ++k)
    if (!(std::isfinite(o[k]) && o[k] >= 0.0))
      throw std::invalid_argument("output weights must be finite and >= 0, got " + std::to_string(o[k]) +
                                  " for output " + std::to_string(k));
}

namespace {

// Entry r of optional weights (sample weights w, output weights o): null means all ones.
double weight_of(const double* w, std::size_t r) { return w ? w[r] : 1.0; }

}  // namespace

double loss_and_delta(Loss loss, Activation out, const double* a, const double* z, const double* y,
                      const double* w, const double* o, double c, double* delta, std::size_t rows, std::size_t cols) {
  double total = 0.0;
  switch (loss) {
    case Loss::SSE:
    case Loss::MSE:
      for (std::size_t r = 0; r < rows; ++r) {
        const double wr = w ? w[r] : 1.0;
        const double* ar = a + r * cols;
        const double* yr = y + r * cols;
        double s = 0.0;
        for (std::size_t j = 0; j < cols; ++j) {
          const double e = yr[j] - ar[j];
          const double oj = weight_of(o, j);
          s += oj * (e * e);
          if (delta) delta[r * cols + j] = c * wr * (oj * (ar[j] - yr[j]));
        }
        total += wr * (0.5 * s);  // not (wr * 0.5) * s: a subnormal weight halved underflows to 0
      }
      // dJ/da -> dJ/dz through the output activation.
      if (delta) multiply_by_derivative(out, delta, a, rows, cols);
      return total;
    case Loss::BinaryCrossentropy:
      for (std::size_t r = 0; r < rows; ++r) {
        const double wr = w ? w[r] : 1.0;
        double s = 0.0;
        for (std::size_t j = 0; j < cols; ++j) {
          const std::size_t i = r * cols + j;
          s += softplus(z[i]) - y[i] * z[i];
          // d/dz [softplus(z) - y z] = sigmoid(z) - y = a - y.
          if (delta) delta[i] = c * wr * (a[i] - y[i]);
        }
        total += wr * s;
      }
      return total;
    case Loss::SoftmaxCrossentropy:
      for (std::size_t r = 0; r < rows; ++r) {
        const double wr = w ? w[r] : 1.0;
        const double* zr = z + r * cols;
        const double* yr = y + r * cols;
        double zmax = -INFINITY;
        for (std::size_t j = 0; j < cols; ++j) zmax = std::max(zmax, zr[j]);
        double sumexp = 0.0, ysum = 0.0, yz = 0.0;
        for (std::size_t j = 0; j < cols; ++j) {
          sumexp += std::exp(zr[j] - zmax);
          ysum += yr[j];
          yz += yr[j] * zr[j];
        }
        const double lse = zmax + std::log(sumexp);
        total += wr * (ysum * lse - yz);
        // d/dz_j = (sum y) softmax_j - y_j.
        if (delta)
          for (std::size_t j = 0; j < cols; ++j) delta[r * cols + j] = c * wr * (ysum * a[r * cols + j] - yr[j]);
      }
      return total;
  }
  return total;
}

void output_curvature_times(Loss loss, Activation out, bool exact, double* r, const double* a, const double* y,
                            const double* w, const double* o, double c, std::size_t rows, std::size_t cols) {
  for (std::size_t i = 0; i < rows; ++i) {
    double* ri = r + i * cols;
    const double* ai = a + i * cols;
    const double* yi = y + i * cols;
    const double cw = c * weight_of(w, i);
    switch (loss) {
      case Loss::SSE:
      case Loss::MSE:
        if (out == Activation::Softmax) {
          // Ra = J_s Rz; G Rz = J_s O Ra; the exact Hessian adds R{J_s}^T (O e) =
          // Ra*(O e) - Ra (a.O e) - a (Ra.O e), from differentiating J_s^T O e with
          // J_s = diag(a) - a a^T.
          multiply_by_derivative(Activation::Softmax, ri, ai, 1, cols);  // ri = Ra
          double ae = 0.0, rae = 0.0;
          for (std::size_t k = 0; k < cols; ++k) {
            const double e = weight_of(o, k) * (ai[k] - yi[k]);
            ae += ai[k] * e;
            rae += ri[k] * e;
          }
          if (exact) {
            // J_s O Ra needs a.O Ra; every term reads Ra, so form them all in one pass.
            double aora = 0.0;
            for (std::size_t k = 0; k < cols; ++k) aora += ai[k] * (weight_of(o, k) * ri[k]);
            for (std::size_t k = 0; k < cols; ++k) {
              const double ok = weight_of(o, k);
              const double e = ok * (ai[k] - yi[k]);
              const double ra = ri[k];
              ri[k] = cw * (ai[k] * (ok * ra - aora) + ra * e - ra * ae - ai[k] * rae);
            }
          } else {
            if (o)
              for (std::size_t k = 0; k < cols; ++k) ri[k] *= o[k];
            multiply_by_derivative(Activation::Softmax, ri, ai, 1, cols);
            for (std::size_t k = 0; k < cols; ++k) ri[k] *= cw;
          }
        } else {
          for (std::size_t k = 0; k < cols; ++k) {
            const Derivatives d = derivatives_at(out, ai[k]);
            const double h = exact ? d.d1 * d.d1 + (ai[k] - yi[k]) * d.d2 : d.d1 * d.d1;
            ri[k] *= cw * (weight_of(o, k) * h);
          }
        }
        break;
      case Loss::BinaryCrossentropy:
        for (std::size_t k = 0; k < cols; ++k) ri[k] *= cw * ai[k] * (1.0 - ai[k]);
        break;
      case Loss::SoftmaxCrossentropy: {
        double ysum = 0.0;
        for (std::size_t k = 0; k < cols; ++k) ysum += yi[k];
        if (!exact && ysum < 0.0)  // as gauss_newton_seed: G would not be positive semi-definite
          throw std::invalid_argument("the Gauss-Newton matrix of softmax_crossentropy needs targets whose rows sum "
                                      "to >= 0, got a row summing to " + std::to_string(ysum));
        multiply_by_derivative(Activation::Softmax, ri, ai, 1, cols);
        for (std::size_t k = 0; k < cols; ++k) ri[k] *= cw * ysum;
        break;
      }
    }
  }
}

void gauss_newton_seed(Loss loss, Activation out, std::size_t j, double* s, const double* a, const double* y,
                       const double* w, const double* o, double c, std::size_t rows, std::size_t cols) {
  if (loss == Loss::SSE || loss == Loss::MSE) jacobian_row(out, j, s, a, rows, cols);
  for (std::size_t i = 0; i < rows; ++i) {
    double* si = s + i * cols;
    const double* ai = a + i * cols;
    double scale = c * weight_of(w, i);
    switch (loss) {
      case Loss::SSE:
      case Loss::MSE:
        if (o) scale *= o[j];
        break;
      case Loss::BinaryCrossentropy:
        for (std::size_t k = 0; k < cols; ++k) si[k] = 0.0;
        si[j] = 1.0;
        scale *= ai[j] * (1.0 - ai[j]);
        break;
      case Loss::SoftmaxCrossentropy: {
        double ysum = 0.0;
        for (std::size_t k = 0; k < cols; ++k) ysum += y[i * cols + k];
        if (ysum < 0.0)
          throw std::invalid_argument("the Gauss-Newton matrix of softmax_crossentropy needs targets whose rows sum to "
                                      ">= 0, got a row summing to " + std::to_string(ysum));
        const double sq = std::sqrt(ai[j]);
        for (std::size_t k = 0; k < cols; ++k) si[k] = -sq * ai[k];
        si[j] += sq;
        scale *= ysum;
        break;
      }
    }
    const double f = std::sqrt(scale);
    for (std::size_t k = 0; k < cols; ++k) si[k] *= f;
  }
}

}  // namespace quasinet
