#include "blas.h"

#include <climits>
#include <stdexcept>
#include <type_traits>

#include "skinny_gemm.h"

#ifdef QUASINET_HAVE_BLAS
// The scipy-openblas32 wheel declares its symbols with a scipy_ prefix so that they never clash
// with another OpenBLAS in the process.
#include <cblas.h>
#define QN_DGEMM scipy_cblas_dgemm
#define QN_SGEMM scipy_cblas_sgemm
#define QN_DSYRK scipy_cblas_dsyrk
#define QN_SET_THREADS scipy_openblas_set_num_threads
#endif

namespace quasinet {

namespace {

template <class T>
void reference_loops(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
                     std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
  for (std::size_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == 0.0) {
      for (std::size_t j = 0; j < N; ++j) c[j] = 0.0;
    } else if (beta != 1.0) {
      for (std::size_t j = 0; j < N; ++j) c[j] *= beta;
    }
    if (!trans_b) {
      // c += alpha * sum_k op(A)[i,k] * B[k,:]  (rows of B are contiguous)
      for (std::size_t k = 0; k < K; ++k) {
        const T aik = alpha * (trans_a ? A[k * lda + i] : A[i * lda + k]);
        const T* b = B + k * ldb;
        for (std::size_t j = 0; j < N; ++j) c[j] += aik * b[j];
      }
    } else {
      // c[j] += alpha * dot(op(A)[i,:], B[j,:])  (B stored (N, K))
      for (std::size_t j = 0; j < N; ++j) {
        const T* b = B + j * ldb;
        T s = 0;
        for (std::size_t k = 0; k < K; ++k) s += (trans_a ? A[k * lda + i] : A[i * lda + k]) * b[k];
        c[j] += alpha * s;
      }
    }
  }
}

// Below this many multiply-adds a dgemm call costs more than it saves.
constexpr std::size_t kSmallProduct = 2048;

// The same products as gemm_reference for small sizes, with the transposition cases split
// into separate loops (no test inside an inner loop) so the compiler can unroll and
// vectorise them. Sums run over k in the same order as the reference.
template <class T>
void gemm_small(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, T alpha,
                const T* __restrict A, std::size_t lda, const T* __restrict B, std::size_t ldb, T beta,
                T* __restrict C, std::size_t ldc) {
  for (std::size_t i = 0; i < M; ++i) {
    T* __restrict c = C + i * ldc;
    if (beta == 0.0) {
      for (std::size_t j = 0; j < N; ++j) c[j] = 0.0;
    } else if (beta != 1.0) {
      for (std::size_t j = 0; j < N; ++j) c[j] *= beta;
    }
    if (!trans_b) {
      const std::size_t a_step = trans_a ? lda : 1;
      const T* a = trans_a ? A + i : A + i * lda;
      for (std::size_t k = 0; k < K; ++k) {
        const T aik = alpha * a[k * a_step];
        const T* __restrict b = B + k * ldb;
        for (std::size_t j = 0; j < N; ++j) c[j] += aik * b[j];
      }
    } else if (!trans_a) {
      const T* __restrict a = A + i * lda;
      for (std::size_t j = 0; j < N; ++j) {
        const T* __restrict b = B + j * ldb;
        T s = 0;
        for (std::size_t k = 0; k < K; ++k) s += a[k] * b[k];
        c[j] += alpha * s;
      }
    } else {
      for (std::size_t j = 0; j < N; ++j) {
        const T* __restrict b = B + j * ldb;
        T s = 0;
        for (std::size_t k = 0; k < K; ++k) s += A[k * lda + i] * b[k];
        c[j] += alpha * s;
      }
    }
  }
}

// One BLAS call for either precision: dgemm or sgemm.
void blas_gemm(bool ta, bool tb, int M, int N, int K, double alpha, const double* A, int lda, const double* B, int ldb,
               double beta, double* C, int ldc) {
#ifdef QUASINET_HAVE_BLAS
  QN_DGEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B,
           ldb, beta, C, ldc);
#else
  (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb, (void)beta,
      (void)C, (void)ldc;
#endif
}
void blas_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
               float beta, float* C, int ldc) {
#ifdef QUASINET_HAVE_BLAS
  QN_SGEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B,
           ldb, beta, C, ldc);
#else
  (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb, (void)beta,
      (void)C, (void)ldc;
#endif
}

template <class T>
void gemm_any(Kernel kernel, bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, T alpha,
              const T* A, std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
  if (M == 0 || N == 0) return;
  const bool use_blas =
      have_blas() && (kernel == Kernel::Blas || (kernel == Kernel::Auto && M * N * K >= kSmallProduct));
  if (use_blas && K > 0) {
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX)
      throw std::invalid_argument("matrix dimension exceeds the 32-bit BLAS index range");
    if constexpr (std::is_same_v<T, double>)
      if (kernel == Kernel::Auto && skinny_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
        return;
    blas_gemm(trans_a, trans_b, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A,
              static_cast<int>(lda), B, static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
    return;
  }
  if (kernel == Kernel::Reference)
    reference_loops(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    gemm_small(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace

void gemm_reference(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, double alpha,
                    const double* A, std::size_t lda, const double* B, std::size_t ldb, double beta, double* C,
                    std::size_t ldc) {
  reference_loops(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm(Kernel kernel, bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, double alpha,
          const double* A, std::size_t lda, const double* B, std::size_t ldb, double beta, double* C,
          std::size_t ldc) {
  gemm_any(kernel, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm(Kernel kernel, bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha,
          const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C, std::size_t ldc) {
  gemm_any(kernel, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void syrk_upper_at_a(Kernel kernel, std::size_t N, std::size_t K, double alpha, const double* A, std::size_t lda,
                     double* C, std::size_t ldc) {
  if (N == 0 || K == 0) return;
#ifdef QUASINET_HAVE_BLAS
  if (kernel == Kernel::Blas || (kernel == Kernel::Auto && N * N * K >= kSmallProduct)) {
    if (N > INT_MAX || K > INT_MAX || lda > INT_MAX || ldc > INT_MAX)
      throw std::invalid_argument("matrix dimension exceeds the 32-bit BLAS index range");
    QN_DSYRK(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(N), static_cast<int>(K), alpha, A,
             static_cast<int>(lda), 1.0, C, static_cast<int>(ldc));
    return;
  }
#else
  (void)kernel;
#endif
  // c[i, j] += alpha * sum_k A[k, i] A[k, j] for j >= i; rows of A are contiguous.
  for (std::size_t k = 0; k < K; ++k) {
    const double* a = A + k * lda;
    for (std::size_t i = 0; i < N; ++i) {
      const double aki = alpha * a[i];
      double* c = C + i * ldc;
      for (std::size_t j = i; j < N; ++j) c[j] += aki * a[j];
    }
  }
}

bool have_blas() {
#ifdef QUASINET_HAVE_BLAS
  return true;
#else
  return false;
#endif
}

void blas_single_thread() {
#ifdef QUASINET_HAVE_BLAS
  QN_SET_THREADS(1);
#endif
}

}  // namespace quasinet
