#include "network.h"

#include <algorithm>
#include <array>
#include <cfloat>
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

// Runs body(); a detail::Float32Range from the float32 path becomes NonFinite: "entry: " + cause().
template <class Body, class Cause>
auto refusing_float32_range(const char* entry, Body&& body, Cause&& cause) -> decltype(body()) {
  try {
    return body();
  } catch (const detail::Float32Range&) {
    throw NonFinite(std::string(entry) + ": " + cause());
  }
}

}  // namespace

Precision parse_precision(const std::string& name) {
  if (name == "float64") return Precision::Float64;
  if (name == "float32") return Precision::Float32;
  throw std::invalid_argument("unknown dtype '" + name + "': expected 'float64' or 'float32'");
}

const char* precision_name(Precision p) { return p == Precision::Float32 ? "float32" : "float64"; }

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
    if (spec_.precision == Precision::Float32) {
      ws->acts32.assign(ws->act_offset[L - 1], 0.0f);  // the hidden layers
      ws->x32.assign(rows * n_inputs(), 0.0f);
      ws->delta32.assign(rows * widest_, 0.0f);
      ws->delta_prev32.assign(rows * widest_, 0.0f);
      std::size_t largest = 0;
      for (const LayerLayout& layer : layout_.layers) largest = std::max(largest, layer.n_in * layer.n_out);
      ws->grad32.assign(largest, 0.0f);
      ws->params32.assign(layout_.n_params, 0.0f);
    }
    ws->rows = rows;
  }
  if (ws->grad.size() != layout_.n_params) ws->grad.assign(layout_.n_params, 0.0);
  return ws;
}

void Network::give_back(std::unique_ptr<Workspace> ws) const {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  pool_.push_back(std::move(ws));
}

void Network::activate_output(Workspace& ws, double* a, const double* bias, std::size_t rows, Math math) const {
  const std::size_t nL = n_outputs();
  if (spec_.loss == Loss::BinaryCrossentropy || spec_.loss == Loss::SoftmaxCrossentropy) {
    bias_activate(Activation::Identity, a, bias, rows, nL);
    std::copy(a, a + rows * nL, ws.z_out.begin());
    bias_activate(spec_.output, a, nullptr, rows, nL, math);
  } else {
    // Bias, activation, one pass over the block while it is in cache.
    bias_activate(spec_.output, a, bias, rows, nL, math);
  }
}

void Network::forward_block(Workspace& ws, const double* params, const double* x, std::size_t rows,
                            Kernel kernel) const {
  const std::size_t L = layout_.layers.size();
  const Math math = detail::math_for(kernel);
  const double* in = x;  // (B, n_in)
  for (std::size_t l = 0; l < L; ++l) {
    const LayerLayout& layer = layout_.layers[l];
    double* a = ws.act(l);  // (B, n_out)
    // z = in W
    gemm(kernel, false, false, rows, layer.n_out, layer.n_in, 1.0, in, layer.n_in, params + layer.w, layer.n_out,
         0.0, a, layer.n_out);
    const double* b = spec_.bias ? params + layer.b : nullptr;
    if (l + 1 == L)
      activate_output(ws, a, b, rows, math);
    else
      bias_activate(spec_.hidden, a, b, rows, layer.n_out, math);
    in = a;
  }
}

void Network::forward_block32(Workspace& ws, const double* params, const double* x, std::size_t rows,
                              Kernel kernel, std::uint64_t call) const {
  const std::size_t L = layout_.layers.size(), n0 = n_inputs(), P = layout_.n_params;
  const Math math = detail::math_for(kernel);
  float* p32 = ws.params32.data();
  if (ws.params32_call != call) {  // the first block of this call on this workspace
    if (!detail::round_to_float32(p32, params, P)) throw detail::Float32Range();
    ws.params32_call = call;
  }
  // An input beyond float32's range must not pass as a saturated activation: refuse it.
  float* x32 = ws.x32.data();
  if (!detail::round_to_float32(x32, x, rows * n0)) throw detail::Float32Range();
  const float* in = x32;  // (B, n_in)
  for (std::size_t l = 0; l < L; ++l) {
    const LayerLayout& layer = layout_.layers[l];
    const double* b = spec_.bias ? params + layer.b : nullptr;  // added in float64
    // z = in W in float32; the output layer's z goes to delta32 (free until the backward pass)
    // and on to float64.
    float* z = l + 1 == L ? ws.delta32.data() : ws.act32(l);  // (B, n_out)
    gemm(kernel, false, false, rows, layer.n_out, layer.n_in, 1.0f, in, layer.n_in, p32 + layer.w, layer.n_out,
         0.0f, z, layer.n_out);
    if (l + 1 == L) {
      double* a = ws.act(l);
      std::copy(z, z + rows * layer.n_out, a);
      activate_output(ws, a, b, rows, math);
    } else {
      bias_activate(spec_.hidden, z, b, rows, layer.n_out, math);
    }
    in = z;
  }
}

void Network::output_bias_grad(double* grad, const Workspace& ws, std::size_t rows) const {
  const LayerLayout& out = layout_.layers.back();
  double* gb = grad + out.b;  // (n_L)
  for (std::size_t r = 0; r < rows; ++r) {
    const double* dr = ws.delta.data() + r * out.n_out;
    for (std::size_t j = 0; j < out.n_out; ++j) gb[j] += dr[j];
  }
}

void Network::backward_block(double* grad, Workspace& ws, const double* params, const double* x, std::size_t rows,
                             Kernel kernel) const {
  double* d = ws.delta.data();            // (B, n_out) dJ/dz of layer l
  double* d_prev = ws.delta_prev.data();  // (B, n_in)
  const std::size_t L = layout_.layers.size();
  // The output layer's bias gradient; the hidden layers' are summed in the pass that forms
  // their delta (multiply_by_derivative_sum below).
  if (spec_.bias) output_bias_grad(grad, ws, rows);
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
    multiply_by_derivative_sum(spec_.hidden, d_prev, ws.act(l - 1), rows, layer.n_in,
                               spec_.bias ? grad + layout_.layers[l - 1].b : nullptr);
    std::swap(d, d_prev);
  }
}

void Network::backward_block32(double* grad, Workspace& ws, std::size_t rows, Kernel kernel) const {
  const std::size_t L = layout_.layers.size(), nL = n_outputs();
  if (spec_.bias) output_bias_grad(grad, ws, rows);
  float* d = ws.delta32.data();            // (B, n_out) dJ/dz of layer l
  float* d_prev = ws.delta_prev32.data();  // (B, n_in)
  for (std::size_t i = 0; i < rows * nL; ++i) d[i] = static_cast<float>(ws.delta[i]);
  const float* p32 = ws.params32.data();
  float* gw = ws.grad32.data();
  for (std::size_t l = L; l-- > 0;) {
    const LayerLayout& layer = layout_.layers[l];
    const float* in = l == 0 ? ws.x32.data() : ws.act32(l - 1);  // (B, n_in)
    // This block's in^T d in float32, added to the float64 gradient.
    const std::size_t n = layer.n_in * layer.n_out;
    gemm(kernel, true, false, layer.n_in, layer.n_out, rows, 1.0f, in, layer.n_in, d, layer.n_out, 0.0f, gw,
         layer.n_out);
    double* g = grad + layer.w;
    for (std::size_t i = 0; i < n; ++i) g[i] += gw[i];
    if (l == 0) break;
    gemm(kernel, false, true, rows, layer.n_in, layer.n_out, 1.0f, d, layer.n_out, p32 + layer.w, layer.n_out, 0.0f,
         d_prev, layer.n_in);
    multiply_by_derivative_sum(spec_.hidden, d_prev, ws.act32(l - 1), rows, layer.n_in,
                               spec_.bias ? grad + layout_.layers[l - 1].b : nullptr);
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

std::string Network::param_name(std::size_t i) const {
  for (std::size_t l = 0; l < layout_.layers.size(); ++l) {
    const LayerLayout& layer = layout_.layers[l];
    if (i >= layer.w && i < layer.b)
      return "weights[" + str(l) + "][" + str((i - layer.w) / layer.n_out) + ", " +
             str((i - layer.w) % layer.n_out) + "]";
    if (spec_.bias && i >= layer.b && i < layer.b + layer.n_out)
      return "biases[" + str(l) + "][" + str(i - layer.b) + "]";
  }
  return "beyond the layout";
}

std::string Network::nonfinite_cause(const double* params, const double* X, const double* Y, const double* w,
                                     std::size_t N, const Options& opt, Precision pass) const {
  const std::size_t P = n_params(), n0 = n_inputs(), nL = n_outputs(), L = layout_.layers.size();
  if (const std::size_t i = detail::first_nonfinite(params, P); i < P)
    return "params[" + str(i) + "] (" + param_name(i) + ") is " + detail::num(params[i]) + ": parameters must be finite";
  if (const std::size_t i = detail::first_nonfinite(X, N * n0); i < N * n0)
    return "X[" + str(i / n0) + ", " + str(i % n0) + "] is " + detail::num(X[i]) + ": inputs must be finite";
  if (Y)
    if (const std::size_t i = detail::first_nonfinite(Y, N * nL); i < N * nL)
      return "y[" + str(i / nL) + ", " + str(i % nL) + "] is " + detail::num(Y[i]) + ": targets must be finite";
  const bool f32 = pass == Precision::Float32;
  const std::uint64_t call = f32 ? ++calls32_ : 0;
  const std::string fp = precision_name(pass);
  if (f32) {
    // Finite in float64 but beyond float32: rounded to infinity on the way in.
    if (const std::size_t i = detail::first_beyond_float32(params, P); i < P)
      return "params[" + str(i) + "] (" + param_name(i) + ") is " + detail::num(params[i]) +
             ", beyond the float32 range (+-3.4e38) this network computes in (dtype float32)";
    if (const std::size_t i = detail::first_beyond_float32(X, N * n0); i < N * n0)
      return "X[" + str(i / n0) + ", " + str(i % n0) + "] is " + detail::num(X[i]) +
             ", beyond the float32 range (+-3.4e38) this network computes in (dtype float32)";
  }
  // Inputs and parameters are finite, so the arithmetic overflowed: replay the forward pass on
  // one thread, block by block, and report the first layer (then sample) that went non-finite.
  const bool keep_z = spec_.loss == Loss::BinaryCrossentropy || spec_.loss == Loss::SoftmaxCrossentropy;
  const double c = Y ? detail::loss_scale(spec_.loss, w, N) : 1.0;
  Options one = opt;
  one.threads = 1;
  std::string found;
  double data = 0.0;
  run_blocks(nullptr, N, one, [&](Workspace& ws, double*, std::size_t r0, std::size_t rows) {
    if (!found.empty()) return 0.0;
    if (f32)
      forward_block32(ws, params, X + r0 * n0, rows, opt.kernel, call);
    else
      forward_block(ws, params, X + r0 * n0, rows, opt.kernel);
    for (std::size_t l = 0; l < L; ++l) {
      const std::size_t n = layout_.layers[l].n_out;
      const bool last = l + 1 == L;
      const Activation f = last ? spec_.output : spec_.hidden;
      const auto report = [&](const char* what, const auto* v, std::size_t i) {
        found = fp + " overflowed in the forward pass: the " + std::string(what) + " of layer " + str(l) + " (" +
                activation_name(f) + (last ? ", the output layer" : "") + ") is " + detail::num(v[i]) + " first at row " +
                str(r0 + i / n) + ", unit " + str(i % n);
      };
      if (last && keep_z)
        if (const std::size_t i = detail::first_nonfinite(ws.z_out.data(), rows * n); i < rows * n) {
          report("pre-activation", ws.z_out.data(), i);
          return 0.0;
        }
      if (f32 && !last) {
        if (const std::size_t i = detail::first_nonfinite(ws.act32(l), rows * n); i < rows * n) {
          report("output", ws.act32(l), i);
          return 0.0;
        }
      } else if (const std::size_t i = detail::first_nonfinite(ws.act(l), rows * n); i < rows * n) {
        report("output", ws.act(l), i);
        return 0.0;
      }
    }
    if (!Y) return 0.0;
    const double* a = ws.act(L - 1);
    for (std::size_t r = 0; r < rows; ++r) {
      const double li = loss_and_delta(spec_.loss, spec_.output, a + r * nL, ws.z_out.data() + r * nL,
                                       Y + (r0 + r) * nL, w ? w + r0 + r : nullptr, opt.output_weights, c, nullptr, 1,
                                       nL);
      if (!std::isfinite(li)) {
        found = "the network's outputs are finite but float64 overflowed in the loss of row " + str(r0 + r) + " (" +
                detail::num(li) + ")";
        return 0.0;
      }
      data += li;
    }
    return 0.0;
  });
  if (!found.empty()) return found;
  if (Y && !std::isfinite(c * data))
    return "every row's loss is finite but float64 overflowed in their sum (" + detail::num(c * data) + ")";
  if (Y && !std::isfinite(l2_term(nullptr, params)))
    return "float64 overflowed in the l2 penalty (l2/2) sum W^2 (" + detail::num(l2_term(nullptr, params)) + ")";
  return Y ? "the outputs and the cost are finite: " + fp + " overflowed in the backward pass" : fp + " overflowed";
}

void Network::throw_nonfinite(const char* entry, const double* result, const double* params, const double* X,
                              const double* Y, const double* w, std::size_t N, const Options& opt,
                              const double* grad, Precision pass) const {
  std::string what = std::string(entry) + ": ";
  if (!Y) {  // forward: result is the output (N, n_L)
    const std::size_t nL = n_outputs(), i = detail::first_nonfinite(result, N * nL);
    what += "the output is " + detail::num(result[i]) + " at row " + str(i / nL) + ", column " + str(i % nL);
  } else if (!std::isfinite(*result)) {
    what += "the cost is " + detail::num(*result);
  } else {
    const std::size_t i = detail::first_nonfinite(grad, n_params());
    what += "gradient entry " + str(i) + " (" + param_name(i) + ") is " + detail::num(grad[i]) + " (the cost is " +
            detail::num(*result) + ")";
  }
  throw NonFinite(what + "; " + nonfinite_cause(params, X, Y, w, N, opt, pass));
}

void Network::forward(double* out, const double* params, const double* X, std::size_t N, const Options& opt) const {
  detail::check_call(params, X, N);
  const std::size_t n0 = n_inputs(), nL = n_outputs();
  const Kernel kernel = opt.kernel;
  const bool f32 = spec_.precision == Precision::Float32;
  const std::uint64_t call = f32 ? ++calls32_ : 0;
  const auto cause = [&] { return nonfinite_cause(params, X, nullptr, nullptr, N, opt, spec_.precision); };
  refusing_float32_range("forward", [&] { return run_blocks(nullptr, N, opt, [&](Workspace& ws, double*, std::size_t r0, std::size_t rows) {
    if (f32)
      forward_block32(ws, params, X + r0 * n0, rows, kernel, call);
    else
      forward_block(ws, params, X + r0 * n0, rows, kernel);
    const double* a = ws.act(layout_.layers.size() - 1);
    std::copy(a, a + rows * nL, out + r0 * nL);
    return 0.0;
  }); }, cause);
  if (!detail::all_finite(out, N * nL)) throw_nonfinite("forward", out, params, X, nullptr, nullptr, N, opt, nullptr, spec_.precision);
}

double Network::cost(const double* params, const double* X, const double* Y, const double* w, std::size_t N,
                     const Options& opt) const {
  detail::check_call(params, X, N);
  const std::size_t n0 = n_inputs(), nL = n_outputs();
  check_output_weights(spec_.loss, opt.output_weights, nL);
  const double c = detail::loss_scale(spec_.loss, w, N);
  const Kernel kernel = opt.kernel;
  const bool f32 = spec_.precision == Precision::Float32;
  const std::uint64_t call = f32 ? ++calls32_ : 0;
  const auto cause = [&] { return nonfinite_cause(params, X, Y, w, N, opt, spec_.precision); };
  const double data = refusing_float32_range("cost", [&] { return run_blocks(nullptr, N, opt, [&](Workspace& ws, double*, std::size_t r0, std::size_t rows) {
    if (f32)
      forward_block32(ws, params, X + r0 * n0, rows, kernel, call);
    else
      forward_block(ws, params, X + r0 * n0, rows, kernel);
    return loss_and_delta(spec_.loss, spec_.output, ws.act(layout_.layers.size() - 1), ws.z_out.data(),
                          Y + r0 * nL, w ? w + r0 : nullptr, opt.output_weights, c, nullptr, rows, nL);
  }); }, cause);
  const double J = c * data + l2_term(nullptr, params);
  if (!std::isfinite(J)) throw_nonfinite("cost", &J, params, X, Y, w, N, opt, nullptr, spec_.precision);
  return J;
}

double Network::cost_grad(double* grad, const double* params, const double* X, const double* Y, const double* w,
                          std::size_t N, const Options& opt) const {
  detail::check_call(params, X, N);
  if (!grad) throw std::invalid_argument("null pointer passed for grad");
  const std::size_t n0 = n_inputs(), nL = n_outputs();
  check_output_weights(spec_.loss, opt.output_weights, nL);
  const double c = detail::loss_scale(spec_.loss, w, N);
  const Kernel kernel = opt.kernel;
  const bool f32 = spec_.precision == Precision::Float32;
  const std::uint64_t call = f32 ? ++calls32_ : 0;
  std::fill(grad, grad + layout_.n_params, 0.0);
  const auto cause = [&] { return nonfinite_cause(params, X, Y, w, N, opt, spec_.precision); };
  const double data = refusing_float32_range("cost_grad", [&] { return run_blocks(grad, N, opt, [&](Workspace& ws, double* target, std::size_t r0, std::size_t rows) {
    const double* x = X + r0 * n0;
    if (f32)
      forward_block32(ws, params, x, rows, kernel, call);
    else
      forward_block(ws, params, x, rows, kernel);
    const double loss = loss_and_delta(spec_.loss, spec_.output, ws.act(layout_.layers.size() - 1), ws.z_out.data(),
                                       Y + r0 * nL, w ? w + r0 : nullptr, opt.output_weights, c, ws.delta.data(),
                                       rows, nL);
    if (f32)
      backward_block32(target, ws, rows, kernel);
    else
      backward_block(target, ws, params, x, rows, kernel);
    return loss;
  }); }, cause);
  const double J = c * data + l2_term(grad, params);
  if (!(std::isfinite(J) && detail::all_finite(grad, layout_.n_params)))
    throw_nonfinite("cost_grad", &J, params, X, Y, w, N, opt, grad, spec_.precision);
  return J;
}

}  // namespace quasinet
