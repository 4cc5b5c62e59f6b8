#include "skinny_gemm.h"

#include <algorithm>
#include <cstring>

// The kernels are written with GCC's generic vectors (4 doubles) and compiled, like the
// activation loops, for the baseline and for AVX2+FMA / AVX-512 through target clones; they are
// only used where the CPU has AVX2 and FMA (checked once), where OpenBLAS would run its own
// AVX2 kernels. Elsewhere skinny_gemm declines and the caller keeps dgemm.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__ELF__) && \
    !defined(QUASINET_NO_TARGET_CLONES)
#define QN_SKINNY 1
#define QN_SKINNY_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#define QN_SKINNY_INLINE inline __attribute__((always_inline))
#define QN_UNROLL _Pragma("GCC unroll 16")
#endif

namespace quasinet {

#ifdef QN_SKINNY
namespace {

// Shape letters: M rows of C, W the narrow side (<= kSkinnyMaxWidth), NV = ceil(W / 4) vectors
// across it, T the entries of its last vector, R rows of C per register tile.
typedef double v4 __attribute__((vector_size(32)));

// n (a constant after inlining) entries from p, zeros after them. Built from scalars rather
// than copied into a zeroed vector, which would go through the stack and stall the load.
QN_SKINNY_INLINE void load(v4& v, const double* p, int n) {
  switch (n) {
    case 1: v = v4{p[0], 0.0, 0.0, 0.0}; return;
    case 2: v = v4{p[0], p[1], 0.0, 0.0}; return;
    case 3: v = v4{p[0], p[1], p[2], 0.0}; return;
    default: std::memcpy(&v, p, sizeof v); return;
  }
}
QN_SKINNY_INLINE void store(double* p, const v4& v, int n) {
  if (n == 4) {
    std::memcpy(p, &v, sizeof v);
    return;
  }
  for (int j = 0; j < n; ++j) p[j] = v[j];
}

// Register tiles: R rows by NV vectors of accumulators, at most 12 of the 16 vector registers.
constexpr int rows_per_tile(int nv) { return nv == 1 ? 8 : nv == 2 ? 6 : nv == 3 ? 4 : 3; }

// c (R rows, ldc) = alpha acc + beta c, the first n entries of each row.
template <int R, int NV>
QN_SKINNY_INLINE void write_tile(double* c, std::size_t ldc, const v4 (&acc)[R][NV], int last, double alpha,
                                 double beta) {
  QN_UNROLL
  for (int r = 0; r < R; ++r)
    QN_UNROLL
    for (int v = 0; v < NV; ++v) {
      const int n = v + 1 == NV ? last : 4;
      v4 out = alpha * acc[r][v];
      if (beta != 0.0) {
        v4 old;
        load(old, c + r * ldc + 4 * v, n);
        out += beta * old;
      }
      store(c + r * ldc + 4 * v, out, n);
    }
}

// Forward: C (R, W) = alpha A (R, K) B (K, W) + beta C.
template <int W, int R>
QN_SKINNY_INLINE void forward_tile(const double* A, std::size_t lda, const double* B, std::size_t ldb, std::size_t K,
                                   double alpha, double beta, double* C, std::size_t ldc) {
  constexpr int NV = (W + 3) / 4, T = W - 4 * (NV - 1);
  v4 acc[R][NV] = {};
  for (std::size_t k = 0; k < K; ++k) {
    v4 b[NV] = {};
    QN_UNROLL
    for (int v = 0; v < NV; ++v) load(b[v], B + k * ldb + 4 * v, v + 1 == NV ? T : 4);
    QN_UNROLL
    for (int r = 0; r < R; ++r) {
      const double a = A[r * lda + k];
      const v4 av = {a, a, a, a};
      QN_UNROLL
      for (int v = 0; v < NV; ++v) acc[r][v] += av * b[v];
    }
  }
  write_tile<R, NV>(C, ldc, acc, T, alpha, beta);
}

// Weight gradient: C (R, W) = alpha A^T B + beta C over rows k of A (K, R; lda) and B (K, W).
template <int W, int R>
QN_SKINNY_INLINE void gradient_tile(const double* A, std::size_t lda, const double* B, std::size_t ldb, std::size_t K,
                                    double alpha, double beta, double* C, std::size_t ldc) {
  constexpr int NV = (W + 3) / 4, T = W - 4 * (NV - 1);
  v4 acc[R][NV] = {};
  for (std::size_t k = 0; k < K; ++k) {
    v4 b[NV] = {};
    QN_UNROLL
    for (int v = 0; v < NV; ++v) load(b[v], B + k * ldb + 4 * v, v + 1 == NV ? T : 4);
    const double* a = A + k * lda;
    QN_UNROLL
    for (int r = 0; r < R; ++r) {
      const v4 av = {a[r], a[r], a[r], a[r]};
      QN_UNROLL
      for (int v = 0; v < NV; ++v) acc[r][v] += av * b[v];
    }
  }
  write_tile<R, NV>(C, ldc, acc, T, alpha, beta);
}

template <int W>
QN_SKINNY_INLINE void forward_rows(std::size_t M, std::size_t K, double alpha, const double* A, std::size_t lda,
                                   const double* B, std::size_t ldb, double beta, double* C, std::size_t ldc) {
  constexpr int R = rows_per_tile((W + 3) / 4);
  std::size_t i = 0;
  for (; i + R <= M; i += R) forward_tile<W, R>(A + i * lda, lda, B, ldb, K, alpha, beta, C + i * ldc, ldc);
  for (; i < M; ++i) forward_tile<W, 1>(A + i * lda, lda, B, ldb, K, alpha, beta, C + i * ldc, ldc);
}

template <int W>
QN_SKINNY_INLINE void gradient_rows(std::size_t M, std::size_t K, double alpha, const double* A, std::size_t lda,
                                    const double* B, std::size_t ldb, double beta, double* C, std::size_t ldc) {
  constexpr int R = rows_per_tile((W + 3) / 4);
  // Runs of rows k whose slice of A (about 128 KiB) stays in cache while every tile of C
  // passes over it; C takes beta once, on the first run.
  const std::size_t run = std::max<std::size_t>(16, (std::size_t{1} << 14) / M);
  for (std::size_t k0 = 0; k0 < K; k0 += run) {
    const std::size_t k = std::min(run, K - k0);
    const double b = k0 == 0 ? beta : 1.0;
    const double* a = A + k0 * lda;
    const double* bk = B + k0 * ldb;
    std::size_t i = 0;
    for (; i + R <= M; i += R) gradient_tile<W, R>(a + i, lda, bk, ldb, k, alpha, b, C + i * ldc, ldc);
    for (; i < M; ++i) gradient_tile<W, 1>(a + i, lda, bk, ldb, k, alpha, b, C + i * ldc, ldc);
  }
}

// One compiled function per width and product, each with its width as a constant, reached
// through tables: a single function switching over the widths ran at about half the speed
// (measured, same kernels inlined).
using ForwardFn = void (*)(std::size_t, std::size_t, double, const double*, std::size_t, const double*, std::size_t,
                           double, double*, std::size_t);

#define QN_SKINNY_WIDTH(w)                                                                                         \
  QN_SKINNY_CLONES void forward_##w(std::size_t M, std::size_t K, double alpha, const double* A, std::size_t lda,  \
                                    const double* B, std::size_t ldb, double beta, double* C, std::size_t ldc) {    \
    forward_rows<w>(M, K, alpha, A, lda, B, ldb, beta, C, ldc);                                                    \
  }                                                                                                                \
  QN_SKINNY_CLONES void gradient_##w(std::size_t M, std::size_t K, double alpha, const double* A, std::size_t lda, \
                                     const double* B, std::size_t ldb, double beta, double* C, std::size_t ldc) {   \
    gradient_rows<w>(M, K, alpha, A, lda, B, ldb, beta, C, ldc);                                                   \
  }
QN_SKINNY_WIDTH(1) QN_SKINNY_WIDTH(2) QN_SKINNY_WIDTH(3) QN_SKINNY_WIDTH(4) QN_SKINNY_WIDTH(5) QN_SKINNY_WIDTH(6)
QN_SKINNY_WIDTH(7) QN_SKINNY_WIDTH(8) QN_SKINNY_WIDTH(9) QN_SKINNY_WIDTH(10) QN_SKINNY_WIDTH(11) QN_SKINNY_WIDTH(12)
QN_SKINNY_WIDTH(13) QN_SKINNY_WIDTH(14) QN_SKINNY_WIDTH(15) QN_SKINNY_WIDTH(16)
#undef QN_SKINNY_WIDTH

// Indexed by width - 1.
const ForwardFn kForward[kSkinnyMaxWidth] = {forward_1,  forward_2,  forward_3,  forward_4,  forward_5,  forward_6,
                                             forward_7,  forward_8,  forward_9,  forward_10, forward_11, forward_12,
                                             forward_13, forward_14, forward_15, forward_16};
const ForwardFn kGradient[kSkinnyMaxWidth] = {gradient_1,  gradient_2,  gradient_3,  gradient_4,
                                              gradient_5,  gradient_6,  gradient_7,  gradient_8,
                                              gradient_9,  gradient_10, gradient_11, gradient_12,
                                              gradient_13, gradient_14, gradient_15, gradient_16};

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

}  // namespace
#endif

bool skinny_gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, double alpha,
                 const double* A, std::size_t lda, const double* B, std::size_t ldb, double beta, double* C,
                 std::size_t ldc) {
#ifdef QN_SKINNY
  if (M == 0 || N == 0 || K == 0 || !cpu_has_avx2_fma()) return false;
  if (!trans_b && N <= kSkinnyMaxWidth) {
    (trans_a ? kGradient : kForward)[N - 1](M, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return true;
  }
#else
  (void)trans_a, (void)trans_b, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb,
      (void)beta, (void)C, (void)ldc;
#endif
  return false;
}

}  // namespace quasinet
