#include "network.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "network_detail.h"

namespace quasinet {

namespace {

std::string str(std::size_t v) { return std::to_string(v); }

}  // namespace

void validate(const Spec& s) {
  if (s.sizes.size() < 2)
    throw std::invalid_argument("layer_sizes needs at least an input and an output size, got " +
                                str(s.sizes.size()) + " size(s)");
  for (std::size_t i = 0; i < s.sizes.size(); ++i) {
    if (s.sizes[i] == 0)
      throw std::invalid_argument("layer_sizes must be positive, got 0 at position " + str(i));
    if (s.sizes[i] > (std::size_t{1} << 31))
      throw std::invalid_argument("layer_sizes[" + str(i) + "] = " + str(s.sizes[i]) + " exceeds 2^31");
  }
  if (s.hidden == Activation::Softmax)
    throw std::invalid_argument("activation 'softmax' is only available as output_activation");
  if (s.output == Activation::Softmax && s.sizes.back() < 2)
    throw std::invalid_argument("output_activation 'softmax' needs at least 2 outputs, got " + str(s.sizes.back()));
  if (s.loss == Loss::BinaryCrossentropy && s.output != Activation::Sigmoid)
    throw std::invalid_argument(std::string("loss 'binary_crossentropy' needs output_activation 'sigmoid', got '") +
                                activation_name(s.output) + "'");
  if (s.loss == Loss::SoftmaxCrossentropy && s.output != Activation::Softmax)
    throw std::invalid_argument(std::string("loss 'softmax_crossentropy' needs output_activation 'softmax', got '") +
                                activation_name(s.output) + "'");
  // Each size is <= 2^31, so each product fits; the running total must not wrap around.
  constexpr std::size_t kMaxParams = std::size_t{1} << 60;  // a float64 buffer numpy can index
  std::size_t total = 0;
  for (std::size_t i = 0; i + 1 < s.sizes.size(); ++i) {
    total += s.sizes[i] * s.sizes[i + 1] + (s.bias ? s.sizes[i + 1] : 0);
    if (total > kMaxParams)
      throw std::invalid_argument("layer_sizes give more than 2^60 parameters (after layer " + str(i) + ")");
  }
  if (!(s.l2 >= 0.0) || !std::isfinite(s.l2))
    throw std::invalid_argument("l2 must be a finite number >= 0, got " + std::to_string(s.l2));
}

Layout make_layout(const Spec& s) {
  Layout layout;
  std::size_t offset = 0;
  for (std::size_t l = 0; l + 1 < s.sizes.size(); ++l) {
    LayerLayout layer{s.sizes[l], s.sizes[l + 1], offset, 0};
    offset += layer.n_in * layer.n_out;
    layer.b = offset;
    if (s.bias) offset += layer.n_out;
    layout.layers.push_back(layer);
  }
  layout.n_params = offset;
  return layout;
}

Network::Network(Spec spec) : spec_(std::move(spec)) {
  validate(spec_);
  layout_ = make_layout(spec_);
  // The delta buffers hold dJ/dz of the hidden and output layers; the input layer's delta
  // is never formed.
  for (std::size_t l = 1; l < spec_.sizes.size(); ++l) widest_ = std::max(widest_, spec_.sizes[l]);
}

Network::~Network() = default;

std::size_t Network::block_rows(const Options& opt) const {
  if (opt.block_rows) return opt.block_rows;
  // Aim for a workspace of about 2 MiB (activations of every layer plus two delta buffers),
  // so one block's data stays in cache between the forward and the backward pass.
  std::size_t per_row = 2 * widest_ + n_outputs();
  for (std::size_t l = 1; l < spec_.sizes.size(); ++l) per_row += spec_.sizes[l];
  const std::size_t rows = (std::size_t{1} << 18) / per_row;
  return std::clamp<std::size_t>(rows, 64, 1024);
}

std::unique_ptr<Workspace> Network::lease(std::size_t rows) const {
  std::unique_ptr<Workspace> ws;
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (!pool_.empty()) {
      ws = std::move(pool_.back());
      pool_.pop_back();
    }
  }
  if (!ws) {
    ws = std::make_unique<Workspace>();
    // Room in the pool for every workspace in existence, so that give_back, which runs in
    // destructors, never allocates (and so never throws).
    std::lock_guard<std::mutex> lock(pool_mutex_);
    pool_.reserve(++n_workspaces_);
  }
  if (ws->rows < rows) {
    const std::size_t L = layout_.layers.size();
    ws->act_offset.resize(L);
    std::size_t total = 0;
    for (std::size_t l = 0; l < L; ++l) {
      ws->act_offset[l] = total;
      total += rows * layout_.layers[l].n_out;
    }
    ws->acts.assign(total, 0.0);
    ws->z_out.assign(rows * n_outputs(), 0.0);
    ws->delta.assign(rows * widest_, 0.0);
    ws->delta_prev.assign(rows * widest_, 0.0);
    ws->rows = rows;
  }
  if (ws->grad.size() != layout_.n_params) ws->grad.assign(layout_.n_params, 0.0);
  return ws;
}

void Network::give_back(std::unique_ptr<Workspace> ws) const {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  pool_.push_back(std::move(ws));
}

void Network::forward_block(Workspace& ws, const double* params, const double* x, std::size_t rows,
                            Kernel kernel) const {
  const std::size_t L = layout_.layers.size();
  const bool keep_z = spec_.loss == Loss::BinaryCrossentropy || spec_.loss == Loss::SoftmaxCrossentropy;
  const Math math = detail::math_for(kernel);
  const double* in = x;  // (B, n_in)
  for (std::size_t l = 0; l < L; ++l) {
    const LayerLayout& layer = layout_.layers[l];
    double* a = ws.act(l);  // (B, n_out)
    // z = in W
    gemm(kernel, false, false, rows, layer.n_out, layer.n_in, 1.0, in, layer.n_in, params + layer.w, layer.n_out,
         0.0, a, layer.n_out);
    const double* b = spec_.bias ? params + layer.b : nullptr;
    const bool last = l + 1 == L;
    if (last && keep_z) {
      bias_activate(Activation::Identity, a, b, rows, layer.n_out);
      std::copy(a, a + rows * layer.n_out, ws.z_out.begin());
      bias_activate(spec_.output, a, nullptr, rows, layer.n_out, math);
    } else {
      // Bias, activation, one pass over the block while it is in cache.
      bias_activate(last ? spec_.output : spec_.hidden, a, b, rows, layer.n_out, math);
    }
    in = a;
  }
}

void Network::backward_block(double* grad, Workspace& ws, const double* params, const double* x, std::size_t rows,
                             Kernel kernel) const {
  double* d = ws.delta.data();            // (B, n_out) dJ/dz of layer l
  double* d_prev = ws.delta_prev.data();  // (B, n_in)
  const std::size_t L = layout_.layers.size();
  if (spec_.bias) {
    // The output layer's bias gradient; the hidden layers' are summed in the pass that
    // forms their delta (multiply_by_derivative_sum below).
    const LayerLayout& out = layout_.layers[L - 1];
    double* gb = grad + out.b;  // (n_L)
    for (std::size_t r = 0; r < rows; ++r) {
      const double* dr = d + r * out.n_out;
      for (std::size_t j = 0; j < out.n_out; ++j) gb[j] += dr[j];
    }
  }
  for (std::size_t l = L; l-- > 0;) {
    const LayerLayout& layer = layout_.layers[l];
    const double* in = l == 0 ? x : ws.act(l - 1);  // (B, n_in)
    // dJ/dW += in^T d
    gemm(kernel, true, false, layer.n_in, layer.n_out, rows, 1.0, in, layer.n_in, d, layer.n_out, 1.0,
         grad + layer.w, layer.n_out);
    if (l == 0) break;
    // dJ/da_prev = d W^T, then through the hidden activation, adding the column sums
    // (dJ/db of layer l-1) in the same pass.
    gemm(kernel, false, true, rows, layer.n_in, layer.n_out, 1.0, d, layer.n_out, params + layer.w, layer.n_out,
         0.0, d_prev, layer.n_in);
    if (spec_.bias)
      multiply_by_derivative_sum(spec_.hidden, d_prev, ws.act(l - 1), rows, layer.n_in,
                                 grad + layout_.layers[l - 1].b);
    else
      multiply_by_derivative(spec_.hidden, d_prev, ws.act(l - 1), rows, layer.n_in);
    std::swap(d, d_prev);
  }
}


double Network::l2_term(double* grad, const double* params) const {
  if (spec_.l2 == 0.0) return 0.0;
  double sum = 0.0;
  for (const LayerLayout& layer : layout_.layers) {
    const double* W = params + layer.w;
    const std::size_t n = layer.n_in * layer.n_out;
    for (std::size_t i = 0; i < n; ++i) sum += W[i] * W[i];
    if (grad)
      for (std::size_t i = 0; i < n; ++i) grad[layer.w + i] += spec_.l2 * W[i];
  }
  return 0.5 * spec_.l2 * sum;
}

void Network::forward(double* out, const double* params, const double* X, std::size_t N, const Options& opt) const {
  detail::check_call(params, X, N);
  const std::size_t n0 = n_inputs(), nL = n_outputs();
  const Kernel kernel = opt.kernel;
  run_blocks(nullptr, N, opt, [&](Workspace& ws, double*, std::size_t r0, std::size_t rows) {
    forward_block(ws, params, X + r0 * n0, rows, kernel);
    const double* a = ws.act(layout_.layers.size() - 1);
    std::copy(a, a + rows * nL, out + r0 * nL);
    return 0.0;
  });
}

double Network::cost(const double* params, const double* X, const double* Y, const double* w, std::size_t N,
                     const Options& opt) const {
  detail::check_call(params, X, N);
  const std::size_t n0 = n_inputs(), nL = n_outputs();
  const double c = detail::loss_scale(spec_.loss, w, N);
  const Kernel kernel = opt.kernel;
  const double data = run_blocks(nullptr, N, opt, [&](Workspace& ws, double*, std::size_t r0, std::size_t rows) {
    forward_block(ws, params, X + r0 * n0, rows, kernel);
    return loss_and_delta(spec_.loss, spec_.output, ws.act(layout_.layers.size() - 1), ws.z_out.data(),
                          Y + r0 * nL, w ? w + r0 : nullptr, c, nullptr, rows, nL);
  });
  return c * data + l2_term(nullptr, params);
}

double Network::cost_grad(double* grad, const double* params, const double* X, const double* Y, const double* w,
                          std::size_t N, const Options& opt) const {
  detail::check_call(params, X, N);
  if (!grad) throw std::invalid_argument("null pointer passed for grad");
  const std::size_t n0 = n_inputs(), nL = n_outputs();
  const double c = detail::loss_scale(spec_.loss, w, N);
  const Kernel kernel = opt.kernel;
  std::fill(grad, grad + layout_.n_params, 0.0);
  const double data = run_blocks(grad, N, opt, [&](Workspace& ws, double* target, std::size_t r0, std::size_t rows) {
    const double* x = X + r0 * n0;
    forward_block(ws, params, x, rows, kernel);
    const double loss = loss_and_delta(spec_.loss, spec_.output, ws.act(layout_.layers.size() - 1), ws.z_out.data(),
                                       Y + r0 * nL, w ? w + r0 : nullptr, c, ws.delta.data(), rows, nL);
    backward_block(target, ws, params, x, rows, kernel);
    return loss;
  });
  return c * data + l2_term(grad, params);
}

}  // namespace quasinet
