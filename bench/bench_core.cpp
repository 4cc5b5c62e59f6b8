// C++ microbenchmarks of the core: forward, cost and cost+gradient at the four sizes of the
// peer benchmark (bench/peers.py), tanh hidden layers, identity output, mse loss.
//
// Counters: time per call (Google Benchmark's own column) and GFLOP/s of the dense products,
// counted exactly from the layer sizes: the forward pass does N * sum_l 2 n_l n_{l+1} flops;
// the backward pass adds the weight-gradient products (the same count again) and the
// input-delta products of every layer but the first.
//
// Arguments: the size index (0 tiny 2-3-1 x 3, 1 small 8-16-1 x 200, 2 medium 64-128-128-10 x
// 10,000, 3 large 784-256-128-10 x 60,000) and the thread count.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <iterator>
#include <memory>
#include <random>
#include <vector>

#include "blas.h"
#include "network.h"
#include "parallel.h"

namespace {

struct Size {
  const char* name;
  std::vector<std::size_t> sizes;
  std::size_t N;
};

const Size kSizes[] = {
    {"tiny", {2, 3, 1}, 3},
    {"small", {8, 16, 1}, 200},
    {"medium", {64, 128, 128, 10}, 10000},
    {"large", {784, 256, 128, 10}, 60000},
};

enum class Pass { Forward, Cost, CostGrad };

double flops(const Size& s, Pass pass) {
  double fwd = 0.0, bwd = 0.0;
  for (std::size_t l = 0; l + 1 < s.sizes.size(); ++l) {
    const double prod = 2.0 * static_cast<double>(s.N) * static_cast<double>(s.sizes[l] * s.sizes[l + 1]);
    fwd += prod;
    bwd += l == 0 ? prod : 2.0 * prod;
  }
  return pass == Pass::CostGrad ? fwd + bwd : fwd;
}

// One problem per size, built once: the network, its parameters, X (N, n_0) and Y (N, n_L).
struct Problem {
  quasinet::Network net;
  std::vector<double> params, X, Y, out, grad;
  explicit Problem(const Size& s) : net(make_spec(s)) {
    std::mt19937_64 rng(42);
    std::normal_distribution<double> normal(0.0, 1.0);
    params.resize(net.n_params());
    for (const auto& layer : net.layout().layers) {
      const double scale = 1.0 / std::sqrt(static_cast<double>(layer.n_in));
      for (std::size_t i = 0; i < layer.n_in * layer.n_out; ++i) params[layer.w + i] = scale * normal(rng);
      for (std::size_t j = 0; j < layer.n_out; ++j) params[layer.b + j] = 0.1 * normal(rng);
    }
    X.resize(s.N * net.n_inputs());
    for (double& x : X) x = normal(rng);
    Y.resize(s.N * net.n_outputs());
    for (double& y : Y) y = normal(rng);
    out.resize(s.N * net.n_outputs());
    grad.resize(net.n_params());
  }
  static quasinet::Spec make_spec(const Size& s) {
    quasinet::Spec spec;
    spec.sizes = s.sizes;
    spec.hidden = quasinet::Activation::Tanh;
    spec.output = quasinet::Activation::Identity;
    spec.loss = quasinet::Loss::MSE;
    return spec;
  }
};

Problem& problem(std::size_t i) {
  static std::vector<std::unique_ptr<Problem>> cache(std::size(kSizes));
  if (!cache[i]) cache[i] = std::make_unique<Problem>(kSizes[i]);
  return *cache[i];
}

template <Pass pass>
void BM_Core(benchmark::State& state) {
  const auto idx = static_cast<std::size_t>(state.range(0));
  const Size& s = kSizes[idx];
  Problem& p = problem(idx);
  quasinet::Options opt;
  opt.threads = static_cast<std::size_t>(state.range(1));
  for (auto _ : state) {
    if constexpr (pass == Pass::Forward) {
      p.net.forward(p.out.data(), p.params.data(), p.X.data(), s.N, opt);
      benchmark::DoNotOptimize(p.out.data());
    } else if constexpr (pass == Pass::Cost) {
      benchmark::DoNotOptimize(p.net.cost(p.params.data(), p.X.data(), p.Y.data(), nullptr, s.N, opt));
    } else {
      benchmark::DoNotOptimize(
          p.net.cost_grad(p.grad.data(), p.params.data(), p.X.data(), p.Y.data(), nullptr, s.N, opt));
    }
    benchmark::ClobberMemory();
  }
  state.SetLabel(s.name);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops(s, pass) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void sizes_and_threads(benchmark::internal::Benchmark* b) {
  for (int i = 0; i < static_cast<int>(std::size(kSizes)); ++i) b->Args({i, 1});
  b->Args({3, 2});  // the large size on two threads
  b->Unit(benchmark::kMicrosecond)->UseRealTime();  // wall time: the pool's threads count too
}

BENCHMARK(BM_Core<Pass::Forward>)->Name("forward")->Apply(sizes_and_threads);
BENCHMARK(BM_Core<Pass::Cost>)->Name("cost")->Apply(sizes_and_threads);
BENCHMARK(BM_Core<Pass::CostGrad>)->Name("cost_grad")->Apply(sizes_and_threads);

}  // namespace

int main(int argc, char** argv) {
  quasinet::blas_single_thread();  // quasinet parallelises over row blocks itself
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
