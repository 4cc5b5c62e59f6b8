// Curvature: rows of the Jacobian, the Gauss-Newton matrix accumulated over row blocks, and
// Hessian- and Gauss-Newton-vector products, built on the forward and backward passes of
// network.cpp and on each loss's output curvature (losses.h).
//
// Dimension letters as in network.h; k = n_L outputs. R{x} is the directional derivative of x
// along the parameter direction v (Pearlmutter's R-operator).
#include <algorithm>
#include <memory>
#include <stdexcept>
#include <vector>

#include "network_detail.h"

namespace quasinet {

namespace {

// The R-pass buffers, the size of their plain counterparts; they grow once per workspace.
void ensure_r_buffers(Workspace& ws) {
  if (ws.r_acts.size() != ws.acts.size()) {
    ws.r_acts.assign(ws.acts.size(), 0.0);
    ws.r_z.assign(ws.acts.size(), 0.0);
  }
  if (ws.r_delta.size() != ws.delta.size()) {
    ws.r_delta.assign(ws.delta.size(), 0.0);
    ws.r_delta_prev.assign(ws.delta.size(), 0.0);
  }
}

// Rows of Jacobian per Gauss-Newton block: the block of Jacobian rows (B k, P) stays within
// about 8 MiB, and never more rows than the plain passes use.
constexpr std::size_t kJacobianBlockDoubles = std::size_t{1} << 20;
// Memory the Gauss-Newton matrix's per-thread partial sums may take besides G itself.
constexpr std::size_t kPartialSumBytes = std::size_t{1} << 28;

}  // namespace

void Network::backward_rows(double* J, std::size_t ldj, Workspace& ws, const double* params, const double* x,
                            std::size_t rows, Kernel kernel) const {
  double* d = ws.delta.data();            // (B, n_out) seed, then d(seed . z_L)/dz of layer l
  double* d_prev = ws.delta_prev.data();  // (B, n_in)
  const std::size_t L = layout_.layers.size();
  for (std::size_t l = L; l-- > 0;) {
    const LayerLayout& layer = layout_.layers[l];
    const double* in = l == 0 ? x : ws.act(l - 1);  // (B, n_in)
    // Row r's own gradient: dW = in_r d_r^T (outer product), db = d_r.
    for (std::size_t r = 0; r < rows; ++r) {
      double* Jr = J + r * ldj;
      const double* dr = d + r * layer.n_out;
      const double* inr = in + r * layer.n_in;
      for (std::size_t i = 0; i < layer.n_in; ++i) {
        const double xi = inr[i];
        double* row = Jr + layer.w + i * layer.n_out;
        for (std::size_t o = 0; o < layer.n_out; ++o) row[o] = xi * dr[o];
      }
      if (spec_.bias) std::copy(dr, dr + layer.n_out, Jr + layer.b);
    }
    if (l == 0) break;
    gemm(kernel, false, true, rows, layer.n_in, layer.n_out, 1.0, d, layer.n_out, params + layer.w, layer.n_out,
         0.0, d_prev, layer.n_in);
    multiply_by_derivative(spec_.hidden, d_prev, ws.act(l - 1), rows, layer.n_in);
    std::swap(d, d_prev);
  }
}

void Network::jacobian(double* J, const double* params, const double* X, std::size_t N, const Options& opt) const {
  detail::check_call(params, X, N);
  if (!J) throw std::invalid_argument("null pointer passed for J");
  const std::size_t n0 = n_inputs(), k = n_outputs(), P = n_params(), L = layout_.layers.size();
  const Kernel kernel = opt.kernel;
  run_blocks(nullptr, N, opt, [&](Workspace& ws, double*, std::size_t r0, std::size_t rows) {
    const double* x = X + r0 * n0;
    forward_block(ws, params, x, rows, kernel);
    for (std::size_t j = 0; j < k; ++j) {
      jacobian_row(spec_.output, j, ws.delta.data(), ws.act(L - 1), rows, k);
      backward_rows(J + (r0 * k + j) * P, k * P, ws, params, x, rows, kernel);
    }
    return 0.0;
  });
  if (!detail::all_finite(J, N * k * P)) {
    const std::size_t i = detail::first_nonfinite(J, N * k * P);
    throw NonFinite("jacobian: entry (row " + std::to_string(i / (k * P)) + ", output " +
                    std::to_string(i / P % k) + ", " + param_name(i % P) + ") is " + detail::num(J[i]) + "; " +
                    nonfinite_cause(params, X, nullptr, nullptr, N, opt));
  }
}

double Network::gauss_newton(double* G, double* grad, const double* params, const double* X, const double* Y,
                             const double* w, std::size_t N, const Options& opt) const {
  detail::check_call(params, X, N);
  if (!G || !grad || !Y) throw std::invalid_argument("null pointer passed for G, grad or y");
  const std::size_t n0 = n_inputs(), k = n_outputs(), P = n_params(), L = layout_.layers.size();
  const double* o = opt.output_weights;
  check_output_weights(spec_.loss, o, k);
  // The seeds of outputs of weight 0 add nothing to G: backpropagate only the others (one output's
  // G_k, o = e_k, then costs one seed's passes).
  std::vector<std::size_t> seeds;
  for (std::size_t j = 0; j < k; ++j)
    if (!o || o[j] != 0.0) seeds.push_back(j);
  const std::size_t n_seeds = std::max<std::size_t>(seeds.size(), 1);
  const double c = detail::loss_scale(spec_.loss, w, N);
  const Kernel kernel = opt.kernel;
  const std::size_t B =
      std::min({block_rows(opt), N, std::max<std::size_t>(1, kJacobianBlockDoubles / (k * P))});
  const std::size_t n_blocks = (N + B - 1) / B;
  std::size_t threads = std::min(opt.threads ? opt.threads : default_threads(), detail::kMaxThreads);
  if (N * k * P * P < detail::kParallelWork) threads = 1;
  // One chunk per thread (each but the first holds a P x P partial sum), reduced in chunk
  // order: the result depends on the thread count only, never on which thread ran which chunk.
  // The partial sums together stay within kPartialSumBytes: a large P runs on fewer threads
  // rather than multiply its P x P memory.
  const std::size_t max_partials = kPartialSumBytes / (P * P * sizeof(double));
  const std::size_t n_chunks = std::min({threads, n_blocks, 1 + max_partials});

  std::fill(G, G + P * P, 0.0);
  std::fill(grad, grad + P, 0.0);
  // Per-call buffers: this call does O(N k P^2) work, so an allocation is noise, and the pool
  // never keeps P x P memory alive after the call.
  struct Chunk {
    std::unique_ptr<Workspace> ws;
    std::vector<double> G;    // (P, P) partial sum, upper triangle (chunk 0 writes into G itself)
    std::vector<double> jac;  // (B n_seeds, P) Jacobian rows of one block, scaled by the loss's curvature
    double loss = 0.0;
  };
  std::vector<Chunk> chunks(n_chunks);
  struct Guard {
    const Network* self;
    std::vector<Chunk>& chunks;
    ~Guard() {
      for (auto& ch : chunks)
        if (ch.ws) self->give_back(std::move(ch.ws));
    }
  } guard{this, chunks};
  for (std::size_t ci = 0; ci < n_chunks; ++ci) {
    chunks[ci].ws = lease(B);
    std::fill(chunks[ci].ws->grad.begin(), chunks[ci].ws->grad.end(), 0.0);
    chunks[ci].jac.assign(B * n_seeds * P, 0.0);
    if (ci > 0) chunks[ci].G.assign(P * P, 0.0);
  }

  std::atomic<bool> abort{false};
  const auto run_chunk = [&](std::size_t ci, bool on_caller) {
    Chunk& ch = chunks[ci];
    Workspace& ws = *ch.ws;
    double* Gc = ci == 0 ? G : ch.G.data();
    const std::size_t first = ci * n_blocks / n_chunks, last = (ci + 1) * n_blocks / n_chunks;
    for (std::size_t b = first; b < last; ++b) {
      if (abort.load(std::memory_order_relaxed)) return;
      if (b > 0 && on_caller && opt.interrupt.fn && opt.interrupt.fn(opt.interrupt.ctx)) {
        abort.store(true);
        throw Interrupted();
      }
      const std::size_t r0 = b * B, rows = std::min(B, N - r0);
      const double* x = X + r0 * n0;
      const double* y = Y + r0 * k;
      const double* wr = w ? w + r0 : nullptr;
      forward_block(ws, params, x, rows, kernel);
      ch.loss += loss_and_delta(spec_.loss, spec_.output, ws.act(L - 1), ws.z_out.data(), y, wr, o, c,
                                ws.delta.data(), rows, k);
      backward_block(ws.grad.data(), ws, params, x, rows, kernel);
      if (seeds.empty()) continue;  // every output weighs 0: G = 0
      // Row r * n_seeds + s of jac: seed seeds[s] of row r backpropagated, so that jac^T jac is
      // this block's c sum_i w_i J_z,i^T G_i J_z,i (losses.h).
      for (std::size_t s = 0; s < seeds.size(); ++s) {
        gauss_newton_seed(spec_.loss, spec_.output, seeds[s], ws.delta.data(), ws.act(L - 1), y, wr, o, c, rows, k);
        backward_rows(ch.jac.data() + s * P, n_seeds * P, ws, params, x, rows, kernel);
      }
      syrk_upper_at_a(kernel, P, rows * n_seeds, 1.0, ch.jac.data(), P, Gc, P);
    }
  };
  if (n_chunks == 1) {
    run_chunk(0, true);
  } else {
    struct Ctx {
      const decltype(run_chunk)* fn;
      std::thread::id caller;
    } ctx{&run_chunk, std::this_thread::get_id()};
    ThreadPool::instance().run(n_chunks, threads,
                               [](void* p, std::size_t ci) {
                                 const Ctx& x = *static_cast<const Ctx*>(p);
                                 (*x.fn)(ci, std::this_thread::get_id() == x.caller);
                               },
                               &ctx);
  }

  double loss = 0.0;
  for (std::size_t ci = 0; ci < n_chunks; ++ci) {
    loss += chunks[ci].loss;
    const double* g = chunks[ci].ws->grad.data();
    for (std::size_t i = 0; i < P; ++i) grad[i] += g[i];
    if (ci == 0) continue;
    const double* Gc = chunks[ci].G.data();
    for (std::size_t i = 0; i < P; ++i)
      for (std::size_t j = i; j < P; ++j) G[i * P + j] += Gc[i * P + j];
  }
  for (std::size_t i = 0; i < P; ++i)
    for (std::size_t j = i + 1; j < P; ++j) G[j * P + i] = G[i * P + j];
  if (spec_.l2 != 0.0)
    for (const LayerLayout& layer : layout_.layers)
      for (std::size_t i = layer.w; i < layer.w + layer.n_in * layer.n_out; ++i) G[i * P + i] += spec_.l2;
  const double J = c * loss + l2_term(grad, params);
  if (!(std::isfinite(J) && detail::all_finite(grad, P))) throw_nonfinite("gauss_newton", &J, params, X, Y, w, N, opt, grad);
  if (!detail::all_finite(G, P * P)) {
    const std::size_t i = detail::first_nonfinite(G, P * P);
    throw NonFinite("gauss_newton: the Gauss-Newton matrix entry (" + param_name(i / P) + ", " + param_name(i % P) +
                    ") is " + detail::num(G[i]) + " (the cost and gradient are finite); " +
                    nonfinite_cause(params, X, Y, w, N, opt));
  }
  return J;
}

void Network::hessp_block(double* hv, Workspace& ws, const double* params, const double* v, const double* x,
                          const double* y, const double* w, const double* o, double c, std::size_t rows,
                          bool exact, Kernel kernel) const {
  ensure_r_buffers(ws);
  forward_block(ws, params, x, rows, kernel);
  const std::size_t L = layout_.layers.size(), k = n_outputs();
  const auto r_z = [&](std::size_t l) { return ws.r_z.data() + ws.act_offset[l]; };     // (B, n_l+1)
  const auto r_a = [&](std::size_t l) { return ws.r_acts.data() + ws.act_offset[l]; };  // (B, n_l+1)

  // Forward R-pass: R{z_l} = R{a_l-1} W_l + a_l-1 V_l + R{b_l}, R{a_l} = J_f R{z_l}; R{x} = 0.
  for (std::size_t l = 0; l < L; ++l) {
    const LayerLayout& layer = layout_.layers[l];
    const double* in = l == 0 ? x : ws.act(l - 1);  // (B, n_in)
    double* rz = r_z(l);                             // (B, n_out)
    gemm(kernel, false, false, rows, layer.n_out, layer.n_in, 1.0, in, layer.n_in, v + layer.w, layer.n_out, 0.0, rz,
         layer.n_out);
    if (l > 0)
      gemm(kernel, false, false, rows, layer.n_out, layer.n_in, 1.0, r_a(l - 1), layer.n_in, params + layer.w,
           layer.n_out, 1.0, rz, layer.n_out);
    if (spec_.bias) {
      const double* vb = v + layer.b;
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t o = 0; o < layer.n_out; ++o) rz[r * layer.n_out + o] += vb[o];
    }
    if (l + 1 < L) {
      double* ra = r_a(l);
      std::copy(rz, rz + rows * layer.n_out, ra);
      multiply_by_derivative(spec_.hidden, ra, ws.act(l), rows, layer.n_out);
    }
  }

  // R{delta_L} = H_i R{z_L} (exact) or G_i R{z_L}: the loss's curvature in z_L.
  double* rd = ws.r_delta.data();  // (B, n_out)
  std::copy(r_z(L - 1), r_z(L - 1) + rows * k, rd);
  output_curvature_times(spec_.loss, spec_.output, exact, rd, ws.act(L - 1), y, w, o, c, rows, k);
  if (!exact) {
    // Gauss-Newton: the gradient's backward pass, linear in its seed, run from R{delta_L}.
    std::copy(rd, rd + rows * k, ws.delta.data());
    backward_block(hv, ws, params, x, rows, kernel);
    return;
  }

  // Exact: the backward pass and its R-pass side by side.
  loss_and_delta(spec_.loss, spec_.output, ws.act(L - 1), ws.z_out.data(), y, w, o, c, ws.delta.data(), rows, k);
  double* d = ws.delta.data();               // (B, n_out) dJ/dz of layer l
  double* d_prev = ws.delta_prev.data();     // (B, n_in)
  double* rd_prev = ws.r_delta_prev.data();  // (B, n_in)
  for (std::size_t l = L; l-- > 0;) {
    const LayerLayout& layer = layout_.layers[l];
    const double* in = l == 0 ? x : ws.act(l - 1);  // (B, n_in)
    // R{dJ/dW} = in^T R{delta} + R{in}^T delta; R{dJ/db} = column sums of R{delta}.
    gemm(kernel, true, false, layer.n_in, layer.n_out, rows, 1.0, in, layer.n_in, rd, layer.n_out, 1.0, hv + layer.w,
         layer.n_out);
    if (l > 0)
      gemm(kernel, true, false, layer.n_in, layer.n_out, rows, 1.0, r_a(l - 1), layer.n_in, d, layer.n_out, 1.0,
           hv + layer.w, layer.n_out);
    if (spec_.bias) {
      double* hb = hv + layer.b;
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t o = 0; o < layer.n_out; ++o) hb[o] += rd[r * layer.n_out + o];
    }
    if (l == 0) break;
    // delta_l-1 = (delta W^T) f';
    // R{delta_l-1} = (R{delta} W^T + delta V^T) f' + (delta W^T) f'' R{z_l-1}.
    gemm(kernel, false, true, rows, layer.n_in, layer.n_out, 1.0, d, layer.n_out, params + layer.w, layer.n_out, 0.0,
         d_prev, layer.n_in);
    gemm(kernel, false, true, rows, layer.n_in, layer.n_out, 1.0, rd, layer.n_out, params + layer.w, layer.n_out, 0.0,
         rd_prev, layer.n_in);
    gemm(kernel, false, true, rows, layer.n_in, layer.n_out, 1.0, d, layer.n_out, v + layer.w, layer.n_out, 1.0,
         rd_prev, layer.n_in);
    const double* a = ws.act(l - 1);
    const double* rz = r_z(l - 1);
    for (std::size_t i = 0; i < rows * layer.n_in; ++i) {
      const Derivatives f = derivatives_at(spec_.hidden, a[i]);
      rd_prev[i] = rd_prev[i] * f.d1 + d_prev[i] * f.d2 * rz[i];
      d_prev[i] *= f.d1;
    }
    std::swap(d, d_prev);
    std::swap(rd, rd_prev);
  }
}

void Network::hessp(double* Hv, const double* params, const double* v, const double* X, const double* Y,
                    const double* w, std::size_t N, bool exact, const Options& opt) const {
  detail::check_call(params, X, N);
  if (!Hv || !v || !Y) throw std::invalid_argument("null pointer passed for Hv, v or y");
  const std::size_t n0 = n_inputs(), k = n_outputs(), P = n_params();
  check_output_weights(spec_.loss, opt.output_weights, k);
  const double c = detail::loss_scale(spec_.loss, w, N);
  const Kernel kernel = opt.kernel;
  std::fill(Hv, Hv + P, 0.0);
  run_blocks(Hv, N, opt, [&](Workspace& ws, double* target, std::size_t r0, std::size_t rows) {
    hessp_block(target, ws, params, v, X + r0 * n0, Y + r0 * k, w ? w + r0 : nullptr, opt.output_weights, c, rows,
                exact, kernel);
    return 0.0;
  });
  // The penalty (l2/2) sum W^2 has Hessian l2 on the weight entries, in both kinds.
  if (spec_.l2 != 0.0)
    for (const LayerLayout& layer : layout_.layers)
      for (std::size_t i = layer.w; i < layer.w + layer.n_in * layer.n_out; ++i) Hv[i] += spec_.l2 * v[i];
  if (!detail::all_finite(Hv, P)) {
    const std::size_t i = detail::first_nonfinite(Hv, P);
    throw NonFinite(std::string(exact ? "hessp: " : "hessp (gauss-newton): ") + "entry " + std::to_string(i) + " (" +
                    param_name(i) + ") of the product is " + detail::num(Hv[i]) + "; " +
                    nonfinite_cause(params, X, Y, w, N, opt));
  }
}

}  // namespace quasinet
