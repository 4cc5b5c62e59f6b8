#include "parallel.h"

#include <algorithm>

namespace quasinet {

namespace {
std::atomic<std::size_t> g_default_threads{0};
}

std::size_t default_threads() {
  const std::size_t n = g_default_threads.load(std::memory_order_relaxed);
  if (n) return n;
  // hardware_concurrency() reads /sys on every call (microseconds): ask once.
  static const std::size_t hardware = std::max<std::size_t>(1, std::thread::hardware_concurrency());
  return hardware;
}

void set_default_threads(std::size_t n) { g_default_threads.store(n, std::memory_order_relaxed); }

ThreadPool& ThreadPool::instance() {
  static ThreadPool pool;
  return pool;
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::ensure_workers(std::size_t count) {
  while (workers_.size() < count) {
    const std::size_t index = workers_.size();
    workers_.emplace_back([this, index] { worker_loop(index); });
  }
}

void ThreadPool::drain() {
  for (;;) {
    const std::size_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= n_) return;
    try {
      task_(ctx_, i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::worker_loop(std::size_t my_index) {
  std::size_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (my_index >= active_workers_) continue;
      ++busy_workers_;
    }
    drain();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --busy_workers_;
    }
    done_cv_.notify_all();
  }
}

void ThreadPool::run(std::size_t n, std::size_t threads, Task task, void* ctx) {
  const auto serial = [&] {
    for (std::size_t i = 0; i < n; ++i) task(ctx, i);
  };
  // A task may re-enter the core on this thread (the interrupt hook runs Python signal
  // handlers); busy_ is then held by this very thread, where try_lock would be undefined.
  static thread_local bool inside = false;
  if (n <= 1 || threads <= 1 || inside) return serial();
  std::unique_lock<std::mutex> owner(busy_, std::try_to_lock);
  if (!owner.owns_lock()) return serial();
  inside = true;
  struct Reset {
    ~Reset() { inside = false; }
  } reset;

  const std::size_t helpers = std::min(threads, n) - 1;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ensure_workers(helpers);
    task_ = task;
    ctx_ = ctx;
    n_ = n;
    next_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    active_workers_ = helpers;
    ++generation_;
  }
  wake_.notify_all();
  drain();
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    // Every task index has been claimed; wait for the workers still finishing theirs.
    // A worker that wakes late sees next_ >= n_ and leaves drain() at once.
    done_cv_.wait(lock, [&] { return busy_workers_ == 0; });
    active_workers_ = 0;
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace quasinet
