// No heap allocation per call on the hot path: after warm-up calls, forward, cost and
// cost_grad (one thread and several) make no C++ allocation. A binary of its own, because it
// replaces the global operator new to count.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

#include "network.h"

namespace {
std::atomic<long> g_allocations{0};
}

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using quasinet::Activation;
using quasinet::Loss;
using quasinet::Network;
using quasinet::Options;
using quasinet::Spec;

struct Case {
  std::vector<std::size_t> sizes;
  std::size_t N;
  Loss loss;
  Activation output;
};

TEST(Allocation, HotPathAllocatesNothingAfterWarmUp) {
  const Case cases[] = {
      {{2, 3, 1}, 3, Loss::SSE, Activation::Sigmoid},
      {{8, 16, 4}, 2000, Loss::SoftmaxCrossentropy, Activation::Softmax},
      {{20, 64, 64, 3}, 3000, Loss::MSE, Activation::Identity},
  };
  for (const auto precision : {quasinet::Precision::Float64, quasinet::Precision::Float32})
  for (const Case& c : cases) {
    Spec s;
    s.sizes = c.sizes;
    s.hidden = Activation::Tanh;
    s.output = c.output;
    s.loss = c.loss;
    s.l2 = 1e-3;
    s.precision = precision;
    const Network net(s);
    std::mt19937_64 rng(1);
    std::normal_distribution<double> d;
    std::vector<double> p(net.n_params()), X(c.N * net.n_inputs()), Y(c.N * net.n_outputs(), 0.0),
        w(c.N, 1.0), g(net.n_params()), out(c.N * net.n_outputs());
    for (double& v : p) v = 0.3 * d(rng);
    for (double& v : X) v = d(rng);
    for (std::size_t i = 0; i < c.N; ++i) Y[i * net.n_outputs() + i % net.n_outputs()] = 1.0;
    for (std::size_t threads : {1u, 2u}) {
      Options opt;
      opt.threads = threads;
      for (int warm = 0; warm < 3; ++warm) {
        net.cost_grad(g.data(), p.data(), X.data(), Y.data(), w.data(), c.N, opt);
        net.cost(p.data(), X.data(), Y.data(), nullptr, c.N, opt);
        net.forward(out.data(), p.data(), X.data(), c.N, opt);
      }
      const long before = g_allocations.load();
      for (int i = 0; i < 20; ++i) {
        net.cost_grad(g.data(), p.data(), X.data(), Y.data(), w.data(), c.N, opt);
        net.cost_grad(g.data(), p.data(), X.data(), Y.data(), nullptr, c.N, opt);
        net.cost(p.data(), X.data(), Y.data(), nullptr, c.N, opt);
        net.forward(out.data(), p.data(), X.data(), c.N, opt);
      }
      EXPECT_EQ(g_allocations.load() - before, 0)
          << "allocations in 80 warm calls, N=" << c.N << ", threads=" << threads << ", "
          << quasinet::precision_name(precision);
    }
  }
}

TEST(Allocation, InputJacobianAllocatesNothingAfterWarmUp) {
  // Both orders, seeds that fit a block and seeds split across blocks, one thread and two.
  for (const auto& sizes : {std::vector<std::size_t>{8, 16, 4}, std::vector<std::size_t>{3, 32, 40}}) {
    Spec s;
    s.sizes = sizes;
    s.hidden = Activation::Tanh;
    s.output = Activation::Softmax;
    s.loss = Loss::MSE;
    const Network net(s);
    const std::size_t N = 1500;
    std::mt19937_64 rng(2);
    std::normal_distribution<double> d;
    std::vector<double> p(net.n_params()), X(N * net.n_inputs()), J(N * net.n_outputs() * net.n_inputs());
    for (double& v : p) v = 0.3 * d(rng);
    for (double& v : X) v = d(rng);
    for (std::size_t threads : {1u, 2u}) {
      for (std::size_t block_rows : {0u, 2u}) {
        Options opt;
        opt.threads = threads;
        opt.block_rows = block_rows;
        for (auto mode : {Network::JacobianMode::Reverse, Network::JacobianMode::Forward}) {
          for (int warm = 0; warm < 3; ++warm) net.input_jacobian(J.data(), p.data(), X.data(), N, opt, mode);
          const long before = g_allocations.load();
          for (int i = 0; i < 5; ++i) net.input_jacobian(J.data(), p.data(), X.data(), N, opt, mode);
          EXPECT_EQ(g_allocations.load() - before, 0)
              << "allocations in 5 warm input_jacobian calls, threads=" << threads << ", block_rows=" << block_rows;
        }
      }
    }
  }
}

TEST(Allocation, TheCounterSeesAllocations) {
  // The measurement is not vacuous: a vector's growth is counted.
  const long before = g_allocations.load();
  std::vector<double>* v = new std::vector<double>(100);
  v->push_back(1.0);
  delete v;
  EXPECT_GE(g_allocations.load() - before, 2);
}

}  // namespace
