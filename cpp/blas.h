// The one place that multiplies matrices: a plain-loop reference kernel (the readable
// specification) and, when built with QUASINET_HAVE_BLAS, OpenBLAS's dgemm (sgemm in float32).
#pragma once

#include <cstddef>

namespace quasinet {

enum class Kernel {
  Auto,       // BLAS, except for products too small to amortise a library call
  Blas,       // always dgemm (built without BLAS: the small-product loops, like Auto)
  Reference,  // always the plain loops below
};

// Row-major C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C.
// op(A) = A (M, K; lda >= K) or, with trans_a, A^T for A stored (K, M; lda >= M); likewise B.
// With beta == 0, C is not read (it may hold garbage).
void gemm_reference(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, double alpha,
                    const double* A, std::size_t lda, const double* B, std::size_t ldb, double beta, double* C,
                    std::size_t ldc);

void gemm(Kernel kernel, bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, double alpha,
          const double* A, std::size_t lda, const double* B, std::size_t ldb, double beta, double* C,
          std::size_t ldc);
// The same in float32 (sgemm; the reference and small-product loops sum in float32).
void gemm(Kernel kernel, bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha,
          const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C, std::size_t ldc);

// Row-major C (N, N) += alpha * A^T A for A stored (K, N; lda >= N), upper triangle only
// (j >= i); the strictly lower triangle is not touched. OpenBLAS's dsyrk, or plain loops.
void syrk_upper_at_a(Kernel kernel, std::size_t N, std::size_t K, double alpha, const double* A, std::size_t lda,
                     double* C, std::size_t ldc);

bool have_blas();
// Pins OpenBLAS to one thread: quasinet parallelises over row blocks itself.
void blas_single_thread();

}  // namespace quasinet
