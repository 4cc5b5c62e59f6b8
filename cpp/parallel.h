// A small persistent pool of worker threads, so that a parallel call allocates nothing and
// starts no thread after the first use.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace quasinet {

class ThreadPool {
 public:
  using Task = void (*)(void* ctx, std::size_t index);

  static ThreadPool& instance();

  // Runs task(ctx, i) for every i in [0, n), using up to `threads` threads including the
  // caller, and returns when all are done. The first exception thrown by a task is rethrown.
  // When another caller holds the pool, this call runs its tasks on the calling thread:
  // each task's result is the same whichever thread runs it.
  void run(std::size_t n, std::size_t threads, Task task, void* ctx);

  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

 private:
  ThreadPool() = default;
  void ensure_workers(std::size_t count);
  void worker_loop(std::size_t my_index);
  void drain();

  std::mutex busy_;  // held by the caller that owns the current job
  std::mutex mutex_;
  std::condition_variable wake_, done_cv_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
  std::size_t generation_ = 0;
  std::size_t active_workers_ = 0;  // workers allowed to join the current job
  std::size_t busy_workers_ = 0;    // workers still inside drain() for the current job
  // The current job.
  Task task_ = nullptr;
  void* ctx_ = nullptr;
  std::size_t n_ = 0;
  std::atomic<std::size_t> next_{0};
  std::exception_ptr error_;
};

// Number of threads quasinet uses for large calls (default: hardware concurrency).
std::size_t default_threads();
void set_default_threads(std::size_t n);

}  // namespace quasinet
