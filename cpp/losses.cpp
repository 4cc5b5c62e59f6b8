#include "losses.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

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

double loss_and_delta(Loss loss, Activation out, const double* a, const double* z, const double* y,
                      const double* w, double c, double* delta, std::size_t rows, std::size_t cols) {
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
          s += e * e;
          if (delta) delta[r * cols + j] = c * wr * (ar[j] - yr[j]);
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

}  // namespace quasinet
