// Internals shared by the passes over row blocks (network.cpp, curvature.cpp): the block
// runner and the checks every entry point makes. Not part of the core's interface.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "network.h"
#include "parallel.h"

namespace quasinet {
namespace detail {

// Below this many multiply-adds per pass a second thread costs more than it saves.
constexpr std::size_t kParallelWork = std::size_t{1} << 19;
constexpr std::size_t kMaxThreads = 64;
constexpr std::size_t kChunksPerThread = 4;

// The reference kernel is the readable specification: plain loops and std:: functions.
inline Math math_for(Kernel kernel) { return kernel == Kernel::Reference ? Math::Std : Math::Fast; }

// Returns the sample-weight normaliser c of losses.h.
inline double loss_scale(Loss loss, const double* w, std::size_t N) {
  if (!loss_is_mean(loss)) return 1.0;
  if (!w) return 1.0 / static_cast<double>(N);
  double sum = 0.0;
  for (std::size_t i = 0; i < N; ++i) sum += w[i];
  // 1/sum overflows for sums below 1/DBL_MAX (subnormal weights): the cost would be NaN.
  if (!(sum > 0.0) || !std::isfinite(sum) || !std::isfinite(1.0 / sum)) {
    std::ostringstream msg;
    msg << "sample weights must sum to a positive finite number, got " << sum;
    if (sum > 0.0 && std::isfinite(sum)) msg << " (too small: 1/sum overflows)";
    throw std::invalid_argument(msg.str());
  }
  return 1.0 / sum;
}

inline void check_call(const void* params, const void* X, std::size_t N) {
  if (!params || !X) throw std::invalid_argument("null pointer passed for params or X");
  if (N == 0) throw std::invalid_argument("X has 0 samples: expected at least 1");
}

// Whether every entry of v (n) is finite: one branch-free pass (NaN fails the comparison), which
// the compiler vectorises; the hot-path check of every result.
inline bool all_finite(const double* v, std::size_t n) {
  bool ok = true;
  for (std::size_t i = 0; i < n; ++i) ok &= std::fabs(v[i]) <= std::numeric_limits<double>::max();
  return ok;
}

// Index of the first entry of v (n) that is NaN or infinite, or n when all are finite.
template <class T>
std::size_t first_nonfinite(const T* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i])) return i;
  return n;
}

// Index of the first finite entry of v (n) that rounds to infinity in float32, or n.
inline std::size_t first_beyond_float32(const double* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (std::isfinite(v[i]) && std::isinf(static_cast<float>(v[i]))) return i;
  return n;
}

// Thrown by forward_block32 when an input or parameter rounds to infinity in float32; the entry
// points turn it into NonFinite naming the value (Network::nonfinite_cause).
struct Float32Range {};

// Rounds v (n) to float32 into out; returns false when an entry became infinite (or was NaN).
// One branch-free pass that the compiler vectorises.
inline bool round_to_float32(float* out, const double* v, std::size_t n) {
  bool ok = true;
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>(v[i]);
    ok &= std::fabs(out[i]) <= std::numeric_limits<float>::max();
  }
  return ok;
}

inline std::string num(double v) {
  if (std::isnan(v)) return "nan";  // not "-nan": the sign of a NaN carries no meaning here
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace detail

// Runs fn(ws, grad_target, first_row, rows) over all row blocks, on one or several threads,
// and returns the sum of what fn returns. With a gradient, each thread's chunk accumulates
// into its own buffer; the chunks are reduced in a fixed order.
template <class BlockFn>
double Network::run_blocks(double* grad, std::size_t N, const Options& opt, BlockFn&& fn) const {
  // Never more rows than the call has: a huge block_rows would otherwise overflow the
  // workspace size computation in lease().
  const std::size_t B = std::min(block_rows(opt), N);
  const std::size_t n_blocks = (N + B - 1) / B;
  std::size_t threads = std::min(opt.threads ? opt.threads : default_threads(), detail::kMaxThreads);
  if (N * layout_.n_params < detail::kParallelWork) threads = 1;
  // Several chunks per thread, claimed dynamically: when another process holds one core for a
  // while, the other thread takes more chunks instead of waiting. Each chunk has its own
  // gradient buffer, reduced in chunk order, so the result depends on the thread count (the
  // chunk count) only, never on which thread ran which chunk.
  const std::size_t n_chunks =
      threads == 1 ? 1 : std::min({detail::kChunksPerThread * threads, n_blocks, detail::kMaxThreads});

  if (n_chunks == 1) {
    // One chunk on the calling thread: no task context and no pool, which matters for
    // small calls where this bookkeeping would rival the arithmetic.
    struct Lease {
      const Network* self;
      std::unique_ptr<Workspace> ws;
      ~Lease() { self->give_back(std::move(ws)); }
    } held{this, lease(B)};
    double loss = 0.0;
    for (std::size_t b = 0; b < n_blocks; ++b) {
      if (b > 0 && opt.interrupt.fn && opt.interrupt.fn(opt.interrupt.ctx)) throw Interrupted();
      const std::size_t r0 = b * B;
      loss += fn(*held.ws, grad, r0, std::min(B, N - r0));
    }
    return loss;
  }

  struct Ctx {
    const Network* self;
    BlockFn* fn;
    const Options* opt;
    std::size_t N, B, n_blocks, n_chunks;
    double* grad;
    std::thread::id caller;
    std::array<std::unique_ptr<Workspace>, detail::kMaxThreads> ws;
    std::array<double, detail::kMaxThreads> loss{};
    std::atomic<bool> abort{false};
  } ctx{this, &fn, &opt, N, B, n_blocks, n_chunks, grad, std::this_thread::get_id(), {}, {}, {}};

  // Return every leased workspace to the pool, also when a block throws.
  struct Guard {
    Ctx& c;
    ~Guard() {
      for (auto& w : c.ws)
        if (w) c.self->give_back(std::move(w));
    }
  } guard{ctx};
  for (std::size_t c = 0; c < n_chunks; ++c) {
    ctx.ws[c] = lease(B);
    if (grad && n_chunks > 1) std::fill(ctx.ws[c]->grad.begin(), ctx.ws[c]->grad.end(), 0.0);
  }

  const auto task = [](void* p, std::size_t c) {
    Ctx& x = *static_cast<Ctx*>(p);
    const std::size_t first = c * x.n_blocks / x.n_chunks, last = (c + 1) * x.n_blocks / x.n_chunks;
    double* target = x.n_chunks > 1 && x.grad ? x.ws[c]->grad.data() : x.grad;
    const bool on_caller = std::this_thread::get_id() == x.caller;
    double loss = 0.0;
    for (std::size_t b = first; b < last; ++b) {
      if (x.abort.load(std::memory_order_relaxed)) return;
      // Before every block but the call's first, so chunks of a single block are covered too.
      if (b > 0 && on_caller && x.opt->interrupt.fn && x.opt->interrupt.fn(x.opt->interrupt.ctx)) {
        x.abort.store(true);
        throw Interrupted();
      }
      const std::size_t r0 = b * x.B;
      loss += (*x.fn)(*x.ws[c], target, r0, std::min(x.B, x.N - r0));
    }
    x.loss[c] = loss;
  };
  ThreadPool::instance().run(n_chunks, threads, task, &ctx);

  double total = 0.0;
  for (std::size_t c = 0; c < n_chunks; ++c) {
    total += ctx.loss[c];
    if (grad && n_chunks > 1) {
      const double* g = ctx.ws[c]->grad.data();
      for (std::size_t i = 0; i < layout_.n_params; ++i) grad[i] += g[i];
    }
  }
  return total;
}

}  // namespace quasinet
