// Where one float64 cost+gradient spends its time: every dense product and element-wise pass
// of Network::cost_grad at one thread, timed one by one over all row blocks, next to the whole
// call and to dgemm on a large square product measured in the same run.
//
//   pip install --no-build-isolation -e . -C build-dir=build/prof   # builds libquasinet_core.a
//   LIB=$(python -c "import scipy_openblas32; print(scipy_openblas32.get_lib_dir())")
//   g++ -O2 -std=c++17 -Icpp bench/profile_core.cpp build/prof/libquasinet_core.a \
//       -L$LIB -lscipy_openblas -Wl,-rpath,$LIB -lpthread -o profile_core
//   ./profile_core [medium|large] [block_rows ...]      (0 or none: the core's own choice)
//
// The stages replay forward_block, loss_and_delta and backward_block for mse with tanh hidden
// layers and identity output (the peer benchmark's network) on the same shapes and buffers;
// each stage's time is the median over repeats of its sum over the blocks. Shape letters:
// B rows per block, n_l layer widths. Products are named z_l = in W_l (forward), gW_l = in^T d
// (weight gradient, inner dimension B) and d_l = d W_l^T (delta of the layer below).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "activations.h"
#include "blas.h"
#include "losses.h"
#include "network.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Stage {
  std::string name;
  double flops = 0.0;
  std::vector<double> samples;
  double acc = 0.0;
};

// GFLOP/s of one dgemm C (n, n) = A B through the same OpenBLAS.
struct Square {
  std::size_t n;
  std::vector<double> A, B, C;
  explicit Square(std::size_t n) : n(n), A(n * n, 1.0), B(n * n, 0.5), C(n * n, 0.0) {}
  double gflops() {
    const auto t0 = Clock::now();
    quasinet::gemm(quasinet::Kernel::Blas, false, false, n, n, n, 1.0, A.data(), n, B.data(), n, 0.0, C.data(), n);
    return 2.0 * n * n * n / seconds_since(t0) / 1e9;
  }
};

}  // namespace

int main(int argc, char** argv) {
  using namespace quasinet;
  blas_single_thread();
  const std::string which = argc > 1 ? argv[1] : "medium";
  std::vector<std::size_t> sizes = which == "large" ? std::vector<std::size_t>{784, 256, 128, 10}
                                                    : std::vector<std::size_t>{64, 128, 128, 10};
  const std::size_t N = which == "large" ? 60000 : 10000;
  std::vector<std::size_t> blocks;
  for (int i = 2; i < argc; ++i) blocks.push_back(std::stoul(argv[i]));
  if (blocks.empty()) blocks.push_back(0);
  const int reps = which == "large" ? 7 : 21;

  Spec spec;
  spec.sizes = sizes;
  spec.hidden = Activation::Tanh;
  spec.output = Activation::Identity;
  spec.loss = Loss::MSE;
  Network net(spec);
  const std::size_t P = net.n_params(), L = sizes.size() - 1, n0 = sizes[0], nL = sizes[L];
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> params(P), X(N * n0), Y(N * nL), grad(P);
  for (const auto& layer : net.layout().layers) {
    const double s = 1.0 / std::sqrt(static_cast<double>(layer.n_in));
    for (std::size_t i = 0; i < layer.n_in * layer.n_out; ++i) params[layer.w + i] = s * normal(rng);
    for (std::size_t i = 0; i < layer.n_out; ++i) params[layer.b + i] = 0.1 * normal(rng);
  }
  for (double& v : X) v = normal(rng);
  for (double& v : Y) v = normal(rng);

  // The ceiling is measured again before every repeat (the machine is shared: its load
  // changes), and each table compares with the median of the measurements of its own run.
  Square square(1000);
  std::vector<double> first;
  for (int r = 0; r < 5; ++r) first.push_back(square.gflops());
  double ceiling = median(first);
  double total_flops = 0.0;
  for (std::size_t l = 0; l < L; ++l) total_flops += (l == 0 ? 4.0 : 6.0) * N * sizes[l] * sizes[l + 1];
  std::printf("# %s: %zu", which.c_str(), sizes[0]);
  for (std::size_t l = 1; l <= L; ++l) std::printf("-%zu", sizes[l]);
  std::printf(" x %zu rows, tanh/identity/mse, 1 thread; dgemm 1000^3 (same OpenBLAS) before the runs: %.1f GFLOP/s\n", N,
              ceiling);

  for (std::size_t B0 : blocks) {
    Options opt;
    opt.threads = 1;
    opt.block_rows = B0;
    const std::size_t B = std::min(net.block_rows(opt), N);
    std::vector<double> whole, ceilings;

    // Stage by stage, on buffers laid out as the workspace.
    std::vector<std::vector<double>> acts(L);
    for (std::size_t l = 0; l < L; ++l) acts[l].assign(B * sizes[l + 1], 0.0);
    std::size_t widest = 0;
    for (std::size_t l = 1; l <= L; ++l) widest = std::max(widest, sizes[l]);
    std::vector<double> d(B * widest), d_prev(B * widest), z_out(B * nL), g(P);
    std::vector<Stage> st;
    auto add = [&](const std::string& name, double flops_per_row) {
      st.push_back({name, flops_per_row * N, {}, 0.0});
      return st.size() - 1;
    };
    std::vector<std::size_t> s_z(L), s_act(L), s_gw(L), s_d(L), s_der(L);
    for (std::size_t l = 0; l < L; ++l) s_z[l] = add("z" + std::to_string(l) + " = in W" + std::to_string(l), 2.0 * sizes[l] * sizes[l + 1]);
    for (std::size_t l = 0; l < L; ++l) s_act[l] = add(std::string(l + 1 == L ? "bias" : "bias+tanh") + " " + std::to_string(l), 0);
    const std::size_t s_loss = add("loss_and_delta", 0);
    const std::size_t s_gb = add("output bias grad", 0);
    for (std::size_t l = L; l-- > 0;) {
      s_gw[l] = add("gW" + std::to_string(l) + " = in^T d", 2.0 * sizes[l] * sizes[l + 1]);
      if (l > 0) {
        s_d[l] = add("d" + std::to_string(l - 1) + " = d W" + std::to_string(l) + "^T", 2.0 * sizes[l] * sizes[l + 1]);
        s_der[l] = add("tanh' * d, colsum " + std::to_string(l - 1), 0);
      }
    }
    const double c = 1.0 / static_cast<double>(N);
    const auto& layers = net.layout().layers;
    for (int rep = 0; rep < reps; ++rep) {
      ceilings.push_back(square.gflops());
      const auto t_call = Clock::now();
      net.cost_grad(grad.data(), params.data(), X.data(), Y.data(), nullptr, N, opt);
      whole.push_back(seconds_since(t_call));
      for (auto& s : st) s.acc = 0.0;
      std::fill(g.begin(), g.end(), 0.0);
      for (std::size_t r0 = 0; r0 < N; r0 += B) {
        const std::size_t rows = std::min(B, N - r0);
        const double* x = X.data() + r0 * n0;
        const double* in = x;
        for (std::size_t l = 0; l < L; ++l) {
          auto t0 = Clock::now();
          gemm(Kernel::Auto, false, false, rows, layers[l].n_out, layers[l].n_in, 1.0, in, layers[l].n_in,
               params.data() + layers[l].w, layers[l].n_out, 0.0, acts[l].data(), layers[l].n_out);
          st[s_z[l]].acc += seconds_since(t0);
          t0 = Clock::now();
          bias_activate(l + 1 == L ? spec.output : spec.hidden, acts[l].data(), params.data() + layers[l].b, rows,
                        layers[l].n_out, Math::Fast);
          st[s_act[l]].acc += seconds_since(t0);
          in = acts[l].data();
        }
        auto t0 = Clock::now();
        loss_and_delta(spec.loss, spec.output, acts[L - 1].data(), z_out.data(), Y.data() + r0 * nL, nullptr, nullptr, c,
                       d.data(), rows, nL);
        st[s_loss].acc += seconds_since(t0);
        t0 = Clock::now();
        double* gb = g.data() + layers[L - 1].b;
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t j = 0; j < nL; ++j) gb[j] += d[r * nL + j];
        st[s_gb].acc += seconds_since(t0);
        double* dd = d.data();
        double* dp = d_prev.data();
        for (std::size_t l = L; l-- > 0;) {
          const double* lin = l == 0 ? x : acts[l - 1].data();
          t0 = Clock::now();
          gemm(Kernel::Auto, true, false, layers[l].n_in, layers[l].n_out, rows, 1.0, lin, layers[l].n_in, dd,
               layers[l].n_out, 1.0, g.data() + layers[l].w, layers[l].n_out);
          st[s_gw[l]].acc += seconds_since(t0);
          if (l == 0) break;
          t0 = Clock::now();
          gemm(Kernel::Auto, false, true, rows, layers[l].n_in, layers[l].n_out, 1.0, dd, layers[l].n_out,
               params.data() + layers[l].w, layers[l].n_out, 0.0, dp, layers[l].n_in);
          st[s_d[l]].acc += seconds_since(t0);
          t0 = Clock::now();
          multiply_by_derivative_sum(spec.hidden, dp, acts[l - 1].data(), rows, layers[l].n_in,
                                     g.data() + layers[l - 1].b);
          st[s_der[l]].acc += seconds_since(t0);
          std::swap(dd, dp);
        }
      }
      for (auto& s : st) s.samples.push_back(s.acc);
    }
    double sum = 0.0, gemm_sum = 0.0;
    const double t_whole = median(whole);
    ceiling = median(ceilings);
    std::printf("\nB = %zu rows per block (%zu blocks); whole cost_grad %.2f ms = %.1f GFLOP/s = %.0f%% of dgemm "
                "(1000^3, %.1f GFLOP/s, median of the measurements between repeats)\n",
                B, (N + B - 1) / B, 1e3 * t_whole, total_flops / t_whole / 1e9,
                100.0 * total_flops / t_whole / 1e9 / ceiling, ceiling);
    std::printf("| %-26s | %9s | %7s | %8s | %9s |\n", "stage", "ms", "share", "GFLOP/s", "of dgemm");
    std::printf("|%s|%s|%s|%s|%s|\n", std::string(28, '-').c_str(), std::string(11, '-').c_str(),
                std::string(9, '-').c_str(), std::string(10, '-').c_str(), std::string(11, '-').c_str());
    std::vector<double> med;
    for (auto& s : st) {
      med.push_back(median(s.samples));
      sum += med.back();
      if (s.flops > 0) gemm_sum += med.back();
    }
    for (std::size_t i = 0; i < st.size(); ++i) {
      const double t = med[i];
      if (st[i].flops > 0)
        std::printf("| %-26s | %9.3f | %6.1f%% | %8.1f | %8.0f%% |\n", st[i].name.c_str(), 1e3 * t, 100.0 * t / sum,
                    st[i].flops / t / 1e9, 100.0 * st[i].flops / t / 1e9 / ceiling);
      else
        std::printf("| %-26s | %9.3f | %6.1f%% | %8s | %9s |\n", st[i].name.c_str(), 1e3 * t, 100.0 * t / sum, "", "");
    }
    std::printf("| %-26s | %9.3f | %6.1f%% | %8.1f | %8.0f%% |\n", "all products", 1e3 * gemm_sum,
                100.0 * gemm_sum / sum, total_flops / gemm_sum / 1e9, 100.0 * total_flops / gemm_sum / 1e9 / ceiling);
    std::printf("| %-26s | %9.3f | %6.1f%% | %8s | %9s |\n", "element-wise passes", 1e3 * (sum - gemm_sum),
                100.0 * (sum - gemm_sum) / sum, "", "");
    std::printf("| %-26s | %9.3f | %6s | %8.1f | %8.0f%% |\n", "sum of stages", 1e3 * sum, "", total_flops / sum / 1e9,
                100.0 * total_flops / sum / 1e9 / ceiling);
  }
  return 0;
}
