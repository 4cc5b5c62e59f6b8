// GoogleTest tests of the C++ core used directly, without Python. Built with
// -fsanitize=address,undefined (scripts/sanitize.sh), every test process ends with
// LeakSanitizer's check: the workspace pool, the thread pool and the exception paths
// (interrupted and rejected calls) must leave nothing allocated behind.
//
// Dimension letters: N samples, n_0 inputs, n_L outputs, P parameters.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "activations.h"
#include "network.h"
#include "parallel.h"

namespace {

using quasinet::Activation;
using quasinet::Kernel;
using quasinet::Loss;
using quasinet::Network;
using quasinet::Options;
using quasinet::Spec;

Spec make_spec(std::vector<std::size_t> sizes, Activation hidden = Activation::Tanh,
               Activation output = Activation::Sigmoid, Loss loss = Loss::MSE, bool bias = true, double l2 = 0.0) {
  Spec s;
  s.sizes = std::move(sizes);
  s.hidden = hidden;
  s.output = output;
  s.loss = loss;
  s.bias = bias;
  s.l2 = l2;
  return s;
}

std::vector<double> uniform(std::size_t n, double lo, double hi, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(n);
  for (double& x : v) x = d(rng);
  return v;
}

// A plain, independent evaluation of the cost for a tanh-hidden, sigmoid-output, mse network:
// the specification the core must meet.
double plain_cost(const Network& net, const std::vector<double>& p, const std::vector<double>& X,
                  const std::vector<double>& Y, std::size_t N) {
  const auto& layers = net.layout().layers;
  double total = 0.0;
  for (std::size_t i = 0; i < N; ++i) {
    std::vector<double> a(X.begin() + i * net.n_inputs(), X.begin() + (i + 1) * net.n_inputs());
    for (std::size_t l = 0; l < layers.size(); ++l) {
      std::vector<double> z(layers[l].n_out, 0.0);
      for (std::size_t j = 0; j < layers[l].n_out; ++j) {
        z[j] = p[layers[l].b + j];
        for (std::size_t k = 0; k < layers[l].n_in; ++k) z[j] += a[k] * p[layers[l].w + k * layers[l].n_out + j];
        z[j] = l + 1 == layers.size() ? 1.0 / (1.0 + std::exp(-z[j])) : std::tanh(z[j]);
      }
      a = z;
    }
    for (std::size_t j = 0; j < a.size(); ++j) total += 0.5 * (a[j] - Y[i * a.size() + j]) * (a[j] - Y[i * a.size() + j]);
  }
  return total / static_cast<double>(N);
}

struct Problem {
  Network net;
  std::vector<double> p, X, Y;
  std::size_t N;
  Problem(Spec spec, std::size_t n, unsigned seed) : net(std::move(spec)), N(n) {
    p = uniform(net.n_params(), -1.0, 1.0, seed);
    X = uniform(N * net.n_inputs(), -2.0, 2.0, seed + 1);
    Y = uniform(N * net.n_outputs(), 0.0, 1.0, seed + 2);
  }
  double cost_grad(std::vector<double>& g, const Options& opt = {}) const {
    g.assign(net.n_params(), 0.0);
    return net.cost_grad(g.data(), p.data(), X.data(), Y.data(), nullptr, N, opt);
  }
};

TEST(Layout, OffsetsFollowTheDocumentedOrder) {
  Network net(make_spec({3, 4, 2}));
  const auto& L = net.layout().layers;
  ASSERT_EQ(L.size(), 2u);
  EXPECT_EQ(L[0].w, 0u);
  EXPECT_EQ(L[0].b, 12u);
  EXPECT_EQ(L[1].w, 16u);
  EXPECT_EQ(L[1].b, 24u);
  EXPECT_EQ(net.n_params(), 26u);
  Network nobias(make_spec({3, 4, 2}, Activation::Tanh, Activation::Sigmoid, Loss::MSE, false));
  EXPECT_EQ(nobias.n_params(), 20u);
}

TEST(Validate, RejectsInconsistentSpecifications) {
  EXPECT_THROW(Network(make_spec({3})), std::invalid_argument);
  EXPECT_THROW(Network(make_spec({3, 0, 1})), std::invalid_argument);
  EXPECT_THROW(Network(make_spec({3, 2}, Activation::Softmax)), std::invalid_argument);
  EXPECT_THROW(Network(make_spec({3, 1}, Activation::Tanh, Activation::Softmax)), std::invalid_argument);
  EXPECT_THROW(Network(make_spec({3, 2}, Activation::Tanh, Activation::Tanh, Loss::BinaryCrossentropy)),
               std::invalid_argument);
  EXPECT_THROW(Network(make_spec({3, 2}, Activation::Tanh, Activation::Sigmoid, Loss::SoftmaxCrossentropy)),
               std::invalid_argument);
  EXPECT_THROW(Network(make_spec({3, 2}, Activation::Tanh, Activation::Sigmoid, Loss::MSE, true, -1.0)),
               std::invalid_argument);
  EXPECT_THROW(Network(make_spec({3, 2}, Activation::Tanh, Activation::Sigmoid, Loss::MSE, true,
                                 std::numeric_limits<double>::quiet_NaN())),
               std::invalid_argument);
  // 2^62 weights per layer, four layers: the count must not wrap around to 0.
  const std::size_t big = std::size_t{1} << 31;
  EXPECT_THROW(Network(make_spec({big, big, big, big, big}, Activation::Tanh, Activation::Sigmoid, Loss::MSE, false)),
               std::invalid_argument);
  EXPECT_THROW(Network(make_spec({big + 1, 1})), std::invalid_argument);
}

TEST(Core, CostMatchesAPlainEvaluation) {
  Problem pr(make_spec({3, 5, 2}), 37, 1);
  const double ref = plain_cost(pr.net, pr.p, pr.X, pr.Y, pr.N);
  for (Kernel k : {Kernel::Auto, Kernel::Blas, Kernel::Reference}) {
    Options opt;
    opt.kernel = k;
    const double J = pr.net.cost(pr.p.data(), pr.X.data(), pr.Y.data(), nullptr, pr.N, opt);
    EXPECT_NEAR(J, ref, 1e-13 * std::fabs(ref));
    std::vector<double> g;
    EXPECT_NEAR(pr.cost_grad(g, opt), ref, 1e-13 * std::fabs(ref));
  }
}

TEST(Core, GradientMatchesCentralDifferences) {
  Problem pr(make_spec({3, 5, 2}), 11, 2);
  std::vector<double> g;
  pr.cost_grad(g);
  std::vector<double> q = pr.p;
  double num2 = 0.0, diff2 = 0.0;
  for (std::size_t i = 0; i < q.size(); ++i) {
    const double h = 1e-5, orig = q[i];
    q[i] = orig + h;
    const double plus = pr.net.cost(q.data(), pr.X.data(), pr.Y.data(), nullptr, pr.N);
    q[i] = orig - h;
    const double minus = pr.net.cost(q.data(), pr.X.data(), pr.Y.data(), nullptr, pr.N);
    q[i] = orig;
    const double n = (plus - minus) / (2 * h);
    diff2 += (g[i] - n) * (g[i] - n);
    num2 += (g[i] + n) * (g[i] + n);
  }
  EXPECT_LT(std::sqrt(diff2 / num2), 1e-8);
}

TEST(Core, BlockSizeAndThreadsDoNotChangeTheAnswerBeyondRounding) {
  Problem pr(make_spec({8, 32, 4}, Activation::Relu, Activation::Identity), 3001, 3);
  std::vector<double> g0, g;
  Options one;
  one.threads = 1;
  one.block_rows = pr.N;
  const double J0 = pr.cost_grad(g0, one);
  for (std::size_t block : {std::size_t{1}, std::size_t{7}, std::size_t{64}, std::size_t{1000}, std::size_t{0},
                            std::size_t{1} << 62}) {
    for (std::size_t threads : {1, 2, 3, 64}) {
      Options opt;
      opt.block_rows = block;
      opt.threads = threads;
      const double J = pr.cost_grad(g, opt);
      EXPECT_NEAR(J, J0, 1e-12 * std::fabs(J0)) << "block " << block << " threads " << threads;
      for (std::size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], g0[i], 1e-11 * (1.0 + std::fabs(g0[i])));
    }
  }
}

TEST(Float32, AgreesWithFloat64AndIsIndependentOfThreads) {
  Spec s64 = make_spec({8, 32, 16, 4}, Activation::Sigmoid, Activation::Identity);
  Spec s32 = s64;
  s32.precision = quasinet::Precision::Float32;
  Problem p64(s64, 3001, 5), p32(s32, 3001, 5);
  std::vector<double> g64, g32, g;
  const double J64 = p64.cost_grad(g64), J32 = p32.cost_grad(g32);
  double diff = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < g64.size(); ++i) {
    diff += (g32[i] - g64[i]) * (g32[i] - g64[i]);
    norm += g64[i] * g64[i];
  }
  EXPECT_LT(std::sqrt(diff / norm), 2e-5);
  EXPECT_GT(std::sqrt(diff / norm), 1e-10);  // really float32
  EXPECT_NEAR(J32, J64, 2e-6 * std::fabs(J64));
  for (std::size_t threads : {1, 2, 3}) {
    Options opt;
    opt.threads = threads;
    opt.block_rows = 256;
    Options one = opt;
    one.threads = 1;
    std::vector<double> g1;
    const double J1 = p32.cost_grad(g1, one);
    EXPECT_NEAR(p32.cost_grad(g, opt), J1, 1e-13 * std::fabs(J1));
    for (std::size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], g1[i], 1e-12 * (1.0 + std::fabs(g1[i])));
  }
}

TEST(Core, SameOptionsGiveBitwiseEqualResults) {
  Problem pr(make_spec({8, 32, 4}), 5000, 4);
  std::vector<double> g0, g;
  const double J0 = pr.cost_grad(g0);
  for (int rep = 0; rep < 5; ++rep) {
    EXPECT_EQ(pr.cost_grad(g), J0);
    EXPECT_EQ(g, g0);
  }
}

TEST(Core, RejectsEmptyAndNullInputs) {
  Problem pr(make_spec({2, 3, 1}), 4, 5);
  std::vector<double> g(pr.net.n_params());
  EXPECT_THROW(pr.net.cost_grad(g.data(), pr.p.data(), pr.X.data(), pr.Y.data(), nullptr, 0), std::invalid_argument);
  EXPECT_THROW(pr.net.cost_grad(g.data(), nullptr, pr.X.data(), pr.Y.data(), nullptr, 4), std::invalid_argument);
  EXPECT_THROW(pr.net.cost_grad(nullptr, pr.p.data(), pr.X.data(), pr.Y.data(), nullptr, 4), std::invalid_argument);
  EXPECT_THROW(pr.net.cost(pr.p.data(), nullptr, pr.Y.data(), nullptr, 4), std::invalid_argument);
}

TEST(Core, SampleWeightSumsThatCannotBeInvertedAreRejected) {
  Problem pr(make_spec({2, 3, 1}), 4, 6);
  std::vector<double> g(pr.net.n_params());
  const std::vector<double> zero(4, 0.0), tiny(4, 5e-324), huge(4, 1e308);
  for (const auto* w : {&zero, &tiny, &huge})
    EXPECT_THROW(pr.net.cost_grad(g.data(), pr.p.data(), pr.X.data(), pr.Y.data(), w->data(), 4),
                 std::invalid_argument);
}

TEST(Extremes, SaturatingPreactivationsStayFinite) {
  for (double z : {-1e4, -700.0, 700.0, 1e4, -1e308, 1e308}) {
    for (Activation f : {Activation::Sigmoid, Activation::Tanh, Activation::Softplus}) {
      EXPECT_TRUE(std::isfinite(quasinet::apply(f, z))) << z;
      EXPECT_TRUE(std::isfinite(quasinet::derivative(f, z))) << z;
    }
  }
  EXPECT_EQ(quasinet::sigmoid(-1e4), 0.0);
  EXPECT_EQ(quasinet::sigmoid(1e4), 1.0);
  EXPECT_EQ(quasinet::softplus(1e4), 1e4);
  EXPECT_NEAR(quasinet::sigmoid(-700.0), std::exp(-700.0), 1e-14 * std::exp(-700.0));
  // Binary cross-entropy at logits +-1e4 with exact 0/1 targets: finite cost and gradient.
  Network net(make_spec({1, 1}, Activation::Identity, Activation::Sigmoid, Loss::BinaryCrossentropy, false));
  const std::vector<double> p{1.0}, X{1e4, -1e4, 1e4, -1e4}, Y{1.0, 0.0, 0.0, 1.0};
  std::vector<double> g(1);
  const double J = net.cost_grad(g.data(), p.data(), X.data(), Y.data(), nullptr, 4);
  EXPECT_DOUBLE_EQ(J, (0.0 + 0.0 + 1e4 + 1e4) / 4);
  EXPECT_DOUBLE_EQ(g[0], (0.0 + 0.0 + 1e4 + 1e4) / 4);
}

// The interrupt hook: called between row blocks on the calling thread; returning true
// abandons the call with quasinet::Interrupted and leaves the network usable.
struct Counter {
  std::atomic<int> calls{0};
  int stop_at = -1;
};
bool count_and_maybe_stop(void* ctx) {
  auto* c = static_cast<Counter*>(ctx);
  return ++c->calls == c->stop_at;
}

TEST(Interrupt, HookIsCalledBetweenRowBlocks) {
  Problem pr(make_spec({4, 8, 2}), 1000, 7);
  Counter c;
  Options opt;
  opt.threads = 1;
  opt.block_rows = 100;  // 10 blocks: 9 gaps between them
  opt.interrupt = {count_and_maybe_stop, &c};
  std::vector<double> g, g0;
  const double J = pr.cost_grad(g, opt);
  EXPECT_EQ(c.calls.load(), 9);
  Options plain = opt;
  plain.interrupt = {};
  EXPECT_EQ(pr.cost_grad(g0, plain), J);
  EXPECT_EQ(g, g0);
}

TEST(Interrupt, ReturningTrueAbandonsTheCallAndTheNetworkStaysUsable) {
  Problem pr(make_spec({4, 8, 2}), 1000, 8);
  std::vector<double> g0, g;
  Options plain;
  plain.block_rows = 100;
  const double J0 = pr.cost_grad(g0, plain);
  for (std::size_t threads : {1, 2, 4}) {
    Counter c;
    c.stop_at = 3;
    Options opt = plain;
    opt.threads = threads;
    opt.interrupt = {count_and_maybe_stop, &c};
    EXPECT_THROW(pr.cost_grad(g, opt), quasinet::Interrupted);
    EXPECT_EQ(c.calls.load(), 3);
  }
  EXPECT_EQ(pr.cost_grad(g, plain), J0);
  EXPECT_EQ(g, g0);
}

TEST(Threads, ConcurrentCallersOnOneNetworkGetSequentialResults) {
  Network net(make_spec({6, 24, 3}));
  const std::vector<double> p = uniform(net.n_params(), -1, 1, 9);
  constexpr int kThreads = 8;
  std::vector<std::vector<double>> X(kThreads), Y(kThreads), expected_g(kThreads), got_g(kThreads);
  std::vector<double> expected_J(kThreads), got_J(kThreads);
  std::vector<std::size_t> N(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    N[t] = 50 + 900 * static_cast<std::size_t>(t);
    X[t] = uniform(N[t] * 6, -1, 1, 100 + t);
    Y[t] = uniform(N[t] * 3, 0, 1, 200 + t);
    expected_g[t].assign(net.n_params(), 0.0);
    expected_J[t] = net.cost_grad(expected_g[t].data(), p.data(), X[t].data(), Y[t].data(), nullptr, N[t]);
  }
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      got_g[t].assign(net.n_params(), 0.0);
      for (int rep = 0; rep < 20; ++rep)
        got_J[t] = net.cost_grad(got_g[t].data(), p.data(), X[t].data(), Y[t].data(), nullptr, N[t]);
    });
  }
  go = true;
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(got_J[t], expected_J[t]) << t;
    EXPECT_EQ(got_g[t], expected_g[t]) << t;
  }
}

TEST(ThreadPool, ExceptionsFromTasksReachTheCaller) {
  struct Ctx {
    std::atomic<int> ran{0};
  } ctx;
  auto task = [](void* p, std::size_t i) {
    static_cast<Ctx*>(p)->ran++;
    if (i == 5) throw std::runtime_error("task 5");
  };
  EXPECT_THROW(quasinet::ThreadPool::instance().run(16, 4, task, &ctx), std::runtime_error);
  // The pool still works afterwards.
  ctx.ran = 0;
  auto ok = [](void* p, std::size_t) { static_cast<Ctx*>(p)->ran++; };
  quasinet::ThreadPool::instance().run(16, 4, ok, &ctx);
  EXPECT_EQ(ctx.ran.load(), 16);
}

TEST(Memory, ManyNetworksAndCallsReleaseEverything) {
  // Under LeakSanitizer this test fails at exit if a workspace, a pool entry or an exception
  // path leaks; without sanitizers it still exercises the create/evaluate/destroy cycle.
  for (int i = 0; i < 200; ++i) {
    Problem pr(make_spec({5, 7, 3}, Activation::Sigmoid, Activation::Softmax, Loss::SoftmaxCrossentropy), 300, i);
    std::vector<double> g;
    Options opt;
    opt.threads = 1 + i % 3;
    opt.block_rows = 1 + i % 50;
    pr.cost_grad(g, opt);
    std::vector<double> out(pr.N * 3);
    pr.net.forward(out.data(), pr.p.data(), pr.X.data(), pr.N, opt);
    Counter c;
    c.stop_at = 1;
    opt.interrupt = {count_and_maybe_stop, &c};
    try {
      pr.cost_grad(g, opt);
    } catch (const quasinet::Interrupted&) {
    }
  }
}

}  // namespace

TEST(NonFinite, EveryEntryPointRefusesANonFiniteResultAndNamesIt) {
  // softplus hidden layer: W1 = [1, 2], no biases, identity output W2 = [1, 1]. Row 1 has
  // x = 1e308: the hidden unit 1 (2e308) overflows.
  Network net(make_spec({1, 2, 1}, Activation::Softplus, Activation::Identity, Loss::SSE, false));
  const std::vector<double> p = {1.0, 2.0, 1.0, 1.0};
  const std::vector<double> X = {0.5, 1e308}, Y = {0.0, 0.0};
  std::vector<double> out(2), g(4);
  const auto message = [](auto&& call) {
    try {
      call();
    } catch (const quasinet::NonFinite& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  const std::string cause = "float64 overflowed in the forward pass: the output of layer 0 (softplus) is inf first at "
                            "row 1, unit 1";
  EXPECT_EQ(message([&] { net.forward(out.data(), p.data(), X.data(), 2); }),
            "forward: the output is inf at row 1, column 0; " + cause);
  EXPECT_EQ(message([&] { net.cost(p.data(), X.data(), Y.data(), nullptr, 2); }), "cost: the cost is inf; " + cause);
  Options two;
  two.threads = 2;
  two.kernel = Kernel::Reference;
  EXPECT_EQ(message([&] { net.cost_grad(g.data(), p.data(), X.data(), Y.data(), nullptr, 2, two); }),
            "cost_grad: the cost is inf; " + cause);
  // The network stays usable: the first row alone is finite.
  const double J = net.cost_grad(g.data(), p.data(), X.data(), Y.data(), nullptr, 1);
  EXPECT_TRUE(std::isfinite(J));
  for (double v : g) EXPECT_TRUE(std::isfinite(v));
}
