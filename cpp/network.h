// A feedforward network over one flat parameter buffer: specification, parameter layout,
// forward pass, cost and backpropagation.
//
// Dimension letters: N samples in the call, B rows in one block, n_l width of layer l
// (n_0 inputs, n_L outputs), P parameters.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "activations.h"
#include "blas.h"
#include "losses.h"

namespace quasinet {

// The precision of the forward and backward passes of forward, cost and cost_grad. Float32: the
// products run in float32 (sgemm) and the hidden activations are stored in float32 (evaluated in
// float64, rounded once); the output layer's activation, the loss, and the sums of cost and
// gradient over row blocks stay in float64. Parameters, inputs, targets, outputs and gradients
// are float64 at the interface either way. The curvature passes and the input Jacobian always
// run in float64.
enum class Precision { Float64, Float32 };
Precision parse_precision(const std::string& name);  // "float64" or "float32"
const char* precision_name(Precision p);

struct Spec {
  std::vector<std::size_t> sizes;  // [n_0, n_1, ..., n_L], L >= 1
  Activation hidden = Activation::Sigmoid;
  Activation output = Activation::Sigmoid;
  bool bias = true;
  Loss loss = Loss::SSE;
  double l2 = 0.0;
  Precision precision = Precision::Float64;
};

// Throws std::invalid_argument (expected vs got) for an inconsistent specification.
void validate(const Spec& spec);

// The parameter layout, the single source of truth for every consumer: for each layer in
// order, W (n_in, n_out) row-major, then b (n_out) when biases are on.
struct LayerLayout {
  std::size_t n_in, n_out;
  std::size_t w;  // offset of W in the flat buffer
  std::size_t b;  // offset of b; equal to w + n_in * n_out; unused without biases
};
struct Layout {
  std::vector<LayerLayout> layers;
  std::size_t n_params = 0;
};
Layout make_layout(const Spec& spec);

// Hook called between row blocks on the calling thread; returning true abandons the call
// with quasinet::Interrupted.
struct InterruptCheck {
  bool (*fn)(void* ctx) = nullptr;
  void* ctx = nullptr;
};
struct Interrupted : std::exception {
  const char* what() const noexcept override { return "interrupted"; }
};

// A result (output, cost or gradient) that is not finite: float64 overflowed somewhere in the
// call (or params / X held a NaN or infinity). what() names the offending entry and the first
// place the pass went non-finite. The binding raises it as FloatingPointError.
struct NonFinite : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::size_t block_rows = 0;  // 0: choose from the layer widths
  std::size_t threads = 0;     // 0: default_threads()
  Kernel kernel = Kernel::Auto;
  InterruptCheck interrupt;
  // (n_L) weights o_k >= 0 of each output's squared error (losses.h), read by cost, cost_grad,
  // gauss_newton and hessp; null: all ones. sse and mse only. Not owned.
  const double* output_weights = nullptr;
};

struct Workspace;

class Network {
 public:
  explicit Network(Spec spec);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  const Spec& spec() const { return spec_; }
  const Layout& layout() const { return layout_; }
  std::size_t n_params() const { return layout_.n_params; }
  std::size_t n_inputs() const { return spec_.sizes.front(); }
  std::size_t n_outputs() const { return spec_.sizes.back(); }

  // The three entry points never return a non-finite result: they check it (O(N n_L) for
  // forward, O(1) for cost, O(P) for cost_grad) and throw NonFinite instead.

  // out (N, n_L) = the network's output for X (N, n_0).
  void forward(double* out, const double* params /* (P) */, const double* X /* (N, n_0) */, std::size_t N,
               const Options& opt = {}) const;

  // J (N, n_L, n_0): J[i, k, j] = d out[i, k] / d X[i, j], exact (input_jacobian.cpp).
  // Reverse: one backward pass to the inputs per output; Forward: one tangent per input;
  // Auto: whichever needs fewer multiply-adds for this architecture.
  enum class JacobianMode { Auto, Reverse, Forward };
  void input_jacobian(double* J, const double* params /* (P) */, const double* X /* (N, n_0) */, std::size_t N,
                      const Options& opt = {}, JacobianMode mode = JacobianMode::Auto) const;
  JacobianMode jacobian_mode(JacobianMode requested) const;
  // forward_block for input_jacobian: leaves f'(z) (softmax: p) of layer l in ws.act(l).
  void forward_derivatives(Workspace& ws, const double* params, const double* x /* (B, n_0) */, std::size_t rows,
                           Kernel kernel) const;

  // The cost J (see losses.h); w (N) are optional sample weights (null: all ones).
  double cost(const double* params, const double* X /* (N, n_0) */, const double* Y /* (N, n_L) */,
              const double* w /* (N) or null */, std::size_t N, const Options& opt = {}) const;

  // The cost, and its gradient written into grad (P), in one pass.
  double cost_grad(double* grad /* (P) */, const double* params, const double* X, const double* Y,
                   const double* w, std::size_t N, const Options& opt = {}) const;

  // The building blocks the entry points above share; later passes (Jacobian rows,
  // Hessian-vector products) reuse them. forward_block leaves every layer's activation in
  // ws; backward_block starts from ws.delta (dJ/dz of the output layer) and adds
  // dJ/dparams for these rows into grad.
  void forward_block(Workspace& ws, const double* params, const double* x /* (B, n_0) */, std::size_t rows,
                     Kernel kernel) const;
  void backward_block(double* grad /* (P) */, Workspace& ws, const double* params, const double* x /* (B, n_0) */,
                      std::size_t rows, Kernel kernel) const;
  // The float32 path's versions (Precision::Float32): forward_block32 rounds the block's inputs
  // and the parameters to float32 in ws, leaves the hidden activations in ws.act32 and the output
  // layer's (float64) in ws.act; backward_block32 adds each layer's float32 block gradient into
  // the float64 grad.
  // `call` (from calls32_, >= 1) identifies the entry point's call: the parameters are rounded
  // into ws once per call and workspace.
  void forward_block32(Workspace& ws, const double* params, const double* x /* (B, n_0) */, std::size_t rows,
                       Kernel kernel, std::uint64_t call) const;
  // (The parameters it needs are the float32 ones forward_block32 left in ws.params32.)
  void backward_block32(double* grad /* (P) */, Workspace& ws, std::size_t rows, Kernel kernel) const;

  std::size_t block_rows(const Options& opt) const;

  // Curvature (curvature.cpp). J below is d(output)/d(params) of one row; G_i, H_i the loss's
  // curvature in the output pre-activation (losses.h).

  // J (N, n_L, P): d a_L / d params for every row (post-activation outputs, softmax included).
  void jacobian(double* J /* (N, n_L, P) */, const double* params, const double* X /* (N, n_0) */, std::size_t N,
                const Options& opt = {}) const;

  // The cost and gradient as cost_grad, and the Gauss-Newton matrix G (P, P), symmetric
  // positive semi-definite, in the same pass over the rows:
  //   G = c sum_i w_i J_z,i^T G_i J_z,i + l2 on the diagonal of the weight entries,
  // J_z,i = d z_L / d params. For sse/mse that is c sum_i w_i J_i^T J_i with J_i = d a_L / d params;
  // for the cross-entropies the generalised Gauss-Newton matrix.
  // Memory: G, one (B, P) gradient and one (B' n_L, P) block of Jacobian rows per thread; never O(N P).
  double gauss_newton(double* G /* (P, P) */, double* grad /* (P) */, const double* params, const double* X,
                      const double* Y, const double* w, std::size_t N, const Options& opt = {}) const;

  // Hv (P) = H v, with H the exact Hessian of the cost (Pearlmutter's R-operator: a forward and
  // a backward R-pass) or, with exact = false, the Gauss-Newton matrix above (Schraudolph's
  // product). O(P) memory; no P x P matrix is formed.
  void hessp(double* Hv /* (P) */, const double* params, const double* v /* (P) */, const double* X,
             const double* Y, const double* w, std::size_t N, bool exact, const Options& opt = {}) const;

 private:
  // The output layer's bias and activation, in float64 in both precisions: a (B, n_L) holds
  // in W on entry and f(in W + b) on exit; the cross-entropies also keep in W + b in ws.z_out.
  void activate_output(Workspace& ws, double* a, const double* bias, std::size_t rows, Math math) const;
  // Adds the output layer's bias gradient (the column sums of ws.delta) into grad.
  void output_bias_grad(double* grad, const Workspace& ws, std::size_t rows) const;
  // Backpropagates ws.delta (one seed per row, (B, n_L)) and writes each row's own gradient
  // (not their sum) into row r of J, J + r * ldj (P entries).
  void backward_rows(double* J, std::size_t ldj, Workspace& ws, const double* params, const double* x,
                     std::size_t rows, Kernel kernel) const;
  // Adds H v (or G v) of these rows into hv; ws.delta must hold nothing in particular.
  void hessp_block(double* hv /* (P) */, Workspace& ws, const double* params, const double* v, const double* x,
                   const double* y, const double* w, const double* o, double c, std::size_t rows, bool exact,
                   Kernel kernel) const;

  // Workspaces are leased from a pool: after the first calls no call allocates, and calls
  // from several threads at once each get their own.
  std::unique_ptr<Workspace> lease(std::size_t rows) const;
  void give_back(std::unique_ptr<Workspace> ws) const;
  template <class BlockFn>
  double run_blocks(double* grad, std::size_t N, const Options& opt, BlockFn&& fn) const;
  double l2_term(double* grad, const double* params) const;
  // Error path only: why a result is not finite (non-finite params or X, the first layer whose
  // activations overflow, the first sample whose loss overflows, the l2 penalty).
  // `pass`: the precision the failed call computed in (the curvature passes: always float64).
  std::string nonfinite_cause(const double* params, const double* X, const double* Y, const double* w,
                              std::size_t N, const Options& opt, Precision pass = Precision::Float64) const;
  std::string param_name(std::size_t i) const;  // "weights[l][r, c]" or "biases[l][c]"
  // Throws NonFinite naming the first non-finite entry of `result` (forward: the output (N, n_L),
  // Y null; cost and cost_grad: the cost, then grad (P)) and its cause. Kept out of line so the
  // entry points' hot paths stay small.
  [[noreturn]] __attribute__((noinline, cold)) void throw_nonfinite(
      const char* entry, const double* result, const double* params, const double* X, const double* Y,
      const double* w, std::size_t N, const Options& opt, const double* grad = nullptr,
      Precision pass = Precision::Float64) const;

  Spec spec_;
  Layout layout_;
  std::size_t widest_ = 0;  // widest hidden or output layer
  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<Workspace>> pool_;
  mutable std::size_t n_workspaces_ = 0;  // leased or pooled; guarded by pool_mutex_
  // Numbers the float32 path's calls, so each workspace rounds the parameters once per call
  // (not once per block): Workspace::params32_call holds the call they were rounded for.
  mutable std::atomic<std::uint64_t> calls32_{0};
};

struct Workspace {
  std::size_t rows = 0;            // capacity in rows (B)
  std::vector<double> acts;        // layer l >= 1: (B, n_l) at act_offset[l-1]
  std::vector<std::size_t> act_offset;
  std::vector<double> z_out;       // (B, n_L) output pre-activation, for the cross-entropies
  std::vector<double> delta;       // (B, widest) dJ/dz of the layer being differentiated
  std::vector<double> delta_prev;  // (B, widest)
  std::vector<double> grad;        // (P) a thread's partial gradient
  // The curvature passes only, sized on their first use (curvature.cpp):
  std::vector<double> r_acts;       // R{a} per layer, laid out as acts
  std::vector<double> r_z;          // R{z} per layer, laid out as acts
  std::vector<double> r_delta;      // (B, widest) R{dJ/dz} of the layer being differentiated
  std::vector<double> r_delta_prev; // (B, widest)
  // The float32 path only (Precision::Float32), sized on lease:
  std::vector<float> acts32;        // hidden layers, laid out as acts (the output layer stays in acts)
  std::vector<float> x32;           // (B, n_0) the block's inputs
  std::vector<float> params32;      // (P) the parameters
  std::uint64_t params32_call = 0;  // the call params32 was rounded for (0: none)
  std::vector<float> delta32;       // (B, widest)
  std::vector<float> delta_prev32;  // (B, widest)
  std::vector<float> grad32;        // (largest n_in n_out) one layer's weight gradient for the block
  double* act(std::size_t layer) { return acts.data() + act_offset[layer]; }  // layer >= 0 is layer l+1
  float* act32(std::size_t layer) { return acts32.data() + act_offset[layer]; }
};

}  // namespace quasinet
