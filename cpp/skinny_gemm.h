// Products with one narrow side: the output layer of a network with a few outputs. OpenBLAS's
// micro-kernels work on 4x8 / 8x4 tiles of C, so a side of 10 leaves tiles partly empty and its
// packing is paid again for little work; these register-blocked loops keep the narrow side
// whole in registers instead. Used by gemm (blas.cpp) on the Auto kernel.
#pragma once

#include <cstddef>

namespace quasinet {

// The widest narrow side handled here.
constexpr std::size_t kSkinnyMaxWidth = 16;

// Row-major C = alpha op(A) op(B) + beta C, with the conventions of gemm (blas.h), for two of
// the three products of a layer whose width is the narrow side w <= kSkinnyMaxWidth:
//   forward       trans_a = false, trans_b = false, N = w:  C (M, w) = A (M, K) B (K, w)
//   weight grad   trans_a = true,  trans_b = false, N = w:  C (M, w) = A^T B, A stored (K, M); B (K, w)
// The third, the delta d W^T (inner dimension w), stays with OpenBLAS: register tiles of 4x12,
// 6x8, 3x16 and 2x24 entries of C were all slower than dgemm there (measured on an AVX2 EPYC).
// Returns false, touching nothing, for any other case or when the machine lacks AVX2 and FMA;
// the caller then runs dgemm. With beta == 0, C is not read.
bool skinny_gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, double alpha,
                 const double* A, std::size_t lda, const double* B, std::size_t ldb, double beta, double* C,
                 std::size_t ldc);

}  // namespace quasinet
