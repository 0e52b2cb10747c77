// SPDX-License-Identifier: MIT
/// \file
/// \brief Register-blocked product for batches stored with the samples along the rows, with a
/// fused bias + ReLU (forward) or ReLU-mask (backward) epilogue: the hot GEMMs of the 1-D
/// neural spline flow, without Eigen's packing and zero-fill passes.
#pragma once

#include <cstring>
#include <type_traits>

#include "mlsbi/core/types.hpp"

namespace mlsbi::flows::detail {

// Vector width of the target (bytes): AVX-512 64, AVX 32, else 16.
#if defined(__AVX512F__)
inline constexpr int row_gemm_vector_bytes = 64;
inline constexpr int row_gemm_accumulator_registers = 20;  // of 32
#elif defined(__AVX__)
inline constexpr int row_gemm_vector_bytes = 32;
inline constexpr int row_gemm_accumulator_registers = 12;  // of 16
#else
inline constexpr int row_gemm_vector_bytes = 16;
inline constexpr int row_gemm_accumulator_registers = 12;  // of 16
#endif

#if defined(__GNUC__)
#define MLSBI_ROW_GEMM_UNROLL _Pragma("GCC unroll 16")
#else
#define MLSBI_ROW_GEMM_UNROLL
#endif

#if defined(__GNUC__)  // GCC and Clang vector extensions

template <typename Scalar>
struct RowGemmVector {
    static constexpr int lanes = row_gemm_vector_bytes / static_cast<int>(sizeof(Scalar));
    typedef Scalar type __attribute__((vector_size(row_gemm_vector_bytes)));
    static type load(const Scalar* p) {
        type v;
        std::memcpy(&v, p, sizeof(type));
        return v;
    }
    static void store(Scalar* p, type v) { std::memcpy(p, &v, sizeof(type)); }
    static type splat(Scalar x) { return type{} + x; }
};

/// C[i, o] = epilogue(bias[o] + sum_r A[i, r] B[r, o]) on a block of MB outputs x IV vectors
/// of samples; the accumulators live in registers across the whole reduction.
template <int MB, int IV, typename Scalar>
inline void row_gemm_micro(Index red, const Scalar* A, Index lda, const Scalar* B, Index b_rs,
                           Index b_os, const Scalar* bias, bool relu, const Scalar* mask,
                           Index ldm, Scalar* C, Index ldc) {
    using Vec = RowGemmVector<Scalar>;
    using V = typename Vec::type;
    constexpr int L = Vec::lanes;
    V acc[MB][IV];
    MLSBI_ROW_GEMM_UNROLL
    for (int m = 0; m < MB; ++m) {
        const V init = Vec::splat(bias != nullptr ? bias[m] : Scalar(0));
        MLSBI_ROW_GEMM_UNROLL
        for (int v = 0; v < IV; ++v) acc[m][v] = init;
    }
    for (Index r = 0; r < red; ++r) {
        V a[IV];
        MLSBI_ROW_GEMM_UNROLL
        for (int v = 0; v < IV; ++v) a[v] = Vec::load(A + r * lda + v * L);
        const Scalar* b = B + r * b_rs;
        MLSBI_ROW_GEMM_UNROLL
        for (int m = 0; m < MB; ++m) {
            const V w = Vec::splat(b[m * b_os]);
            MLSBI_ROW_GEMM_UNROLL
            for (int v = 0; v < IV; ++v) acc[m][v] += a[v] * w;
        }
    }
    MLSBI_ROW_GEMM_UNROLL
    for (int m = 0; m < MB; ++m) {
        MLSBI_ROW_GEMM_UNROLL
        for (int v = 0; v < IV; ++v) {
            V x = acc[m][v];
            if (relu) x = x > Scalar(0) ? x : V{};
            if (mask != nullptr) {
                const V h = Vec::load(mask + m * ldm + v * L);
                x = h > Scalar(0) ? x : V{};
            }
            Vec::store(C + m * ldc + v * L, x);
        }
    }
}

/// Dispatches a block of `outs` (< MB) remaining outputs to the micro-kernel of that width.
template <int MB, int IV, typename Scalar>
inline void row_gemm_tail(Index outs, Index red, const Scalar* A, Index lda, const Scalar* B,
                          Index b_rs, Index b_os, const Scalar* bias, bool relu,
                          const Scalar* mask, Index ldm, Scalar* C, Index ldc) {
    if constexpr (MB > 1) {
        if (outs == MB - 1)
            row_gemm_micro<MB - 1, IV>(red, A, lda, B, b_rs, b_os, bias, relu, mask, ldm, C, ldc);
        else
            row_gemm_tail<MB - 1, IV>(outs, red, A, lda, B, b_rs, b_os, bias, relu, mask, ldm, C,
                                      ldc);
    }
}

/// C[m, k] += sum_i G[i, m] A[i, k] on a block of MB x KB outputs, over `vectors` SIMD steps
/// of samples; the partial sums stay in registers and are reduced across lanes once.
/// With `partial` (lane-wise sums, vector (m, k) at partial + (m + k * ldp) * L), the block
/// accumulates there instead of reducing into C: no horizontal sums per call.
template <int MB, int KB, typename Scalar>
inline void row_gemm_tn_micro(Index vectors, const Scalar* G, Index ldg, const Scalar* A,
                              Index lda, Scalar* C, Index ldc, Scalar* partial, Index ldp) {
    using Vec = RowGemmVector<Scalar>;
    using V = typename Vec::type;
    constexpr int L = Vec::lanes;
    V acc[MB][KB];
    MLSBI_ROW_GEMM_UNROLL
    for (int m = 0; m < MB; ++m) {
        MLSBI_ROW_GEMM_UNROLL
        for (int k = 0; k < KB; ++k)
            acc[m][k] = partial != nullptr ? Vec::load(partial + (m + k * ldp) * L) : V{};
    }
    for (Index i = 0; i < vectors * L; i += L) {
        V a[KB];
        MLSBI_ROW_GEMM_UNROLL
        for (int k = 0; k < KB; ++k) a[k] = Vec::load(A + k * lda + i);
        MLSBI_ROW_GEMM_UNROLL
        for (int m = 0; m < MB; ++m) {
            const V g = Vec::load(G + m * ldg + i);
            MLSBI_ROW_GEMM_UNROLL
            for (int k = 0; k < KB; ++k) acc[m][k] += g * a[k];
        }
    }
    MLSBI_ROW_GEMM_UNROLL
    for (int m = 0; m < MB; ++m) {
        MLSBI_ROW_GEMM_UNROLL
        for (int k = 0; k < KB; ++k) {
            if (partial != nullptr) {
                Vec::store(partial + (m + k * ldp) * L, acc[m][k]);
            } else {
                Scalar sum = 0;
                for (int l = 0; l < L; ++l) sum += acc[m][k][l];
                C[m + k * ldc] += sum;
            }
        }
    }
}

/// Runs the TN micro-kernel of width (mb, kb) <= (MB, KB) chosen at run time (edge blocks).
template <int MB, int KB, typename Scalar>
inline void row_gemm_tn_edge(Index mb, Index kb, Index vectors, const Scalar* G, Index ldg,
                             const Scalar* A, Index lda, Scalar* C, Index ldc, Scalar* partial,
                             Index ldp) {
    if constexpr (MB >= 1 && KB >= 1) {
        if (mb == MB && kb == KB)
            row_gemm_tn_micro<MB, KB>(vectors, G, ldg, A, lda, C, ldc, partial, ldp);
        else if (kb < KB)
            row_gemm_tn_edge<MB, KB - 1>(mb, kb, vectors, G, ldg, A, lda, C, ldc, partial, ldp);
        else
            row_gemm_tn_edge<MB - 1, KB>(mb, kb, vectors, G, ldg, A, lda, C, ldc, partial, ldp);
    }
}

#endif

/// SIMD lanes of row_gemm's vectors for Scalar (1 without vector extensions).
template <typename Scalar>
[[nodiscard]] constexpr Index row_gemm_lanes() {
#if defined(__GNUC__)
    return RowGemmVector<Scalar>::lanes;
#else
    return 1;
#endif
}

/// C += G^T A for batches with the samples along the rows (the weight gradient of a layer):
///   C[m, k] += sum_{i < rows} G[i, m] A[i, k],
/// G column-major rows x M (ldg), A column-major rows x K (lda), C column-major M x K (ldc).
/// Register-blocked over (m, k) with SIMD along the samples; no packing.
///
/// With `partial` (M K row_gemm_lanes() scalars, zeroed by the caller before the first call),
/// whole SIMD vectors of samples accumulate lane-wise into it and only the < lanes leftover rows
/// go to C; call row_gemm_tn_finish once after the last chunk. Across many chunks of a batch
/// this saves the horizontal sums, which otherwise cost a third of a 512-row chunk.
template <typename Scalar>
void row_gemm_tn(Index rows, Index M, Index K, const Scalar* G, Index ldg, const Scalar* A,
                 Index lda, Scalar* C, Index ldc, Scalar* partial = nullptr) {
    Index done = 0;
#if defined(__GNUC__)
    constexpr int L = RowGemmVector<Scalar>::lanes;
    constexpr int KB = row_gemm_vector_bytes == 64 ? 5 : 3;
    constexpr int MB = 4;
    const Index vectors = rows / L;
    if (vectors > 0) {
        for (Index k = 0; k < K; k += KB)
            for (Index m = 0; m < M; m += MB) {
                const Index mb = M - m < MB ? M - m : MB, kb = K - k < KB ? K - k : KB;
                row_gemm_tn_edge<MB, KB>(mb, kb, vectors, G + m * ldg, ldg, A + k * lda, lda,
                                         C + m + k * ldc, ldc,
                                         partial != nullptr ? partial + (m + k * M) * L : nullptr,
                                         M);
            }
        done = vectors * L;
    }
#else
    (void)partial;
#endif
    for (Index k = 0; k < K; ++k)
        for (Index m = 0; m < M; ++m) {
            Scalar sum = 0;
            for (Index i = done; i < rows; ++i) sum += G[i + m * ldg] * A[i + k * lda];
            C[m + k * ldc] += sum;
        }
}

/// C[m, k] += sum of the lanes of partial's vector (m, k) (see row_gemm_tn).
template <typename Scalar>
void row_gemm_tn_finish(Index M, Index K, const Scalar* partial, Scalar* C, Index ldc) {
    constexpr Index L = row_gemm_lanes<Scalar>();
    if constexpr (L > 1)
        for (Index k = 0; k < K; ++k)
            for (Index m = 0; m < M; ++m) {
                const Scalar* v = partial + (m + k * M) * L;
                Scalar sum = 0;
                for (Index l = 0; l < L; ++l) sum += v[l];
                C[m + k * ldc] += sum;
            }
}

/// C = epilogue(A B + 1 bias^T) for batches with the samples along the rows:
///   C[i, o] = e(bias[o] + sum_{r < red} A[i, r] B[r, o]),  i < rows, o < outs,
/// A column-major rows x red (leading dimension lda), B[r, o] at B[r * b_rs + o * b_os] (any
/// layout: W^T for a forward layer, W for the input gradient), C column-major rows x outs
/// (ldc). e: identity, or ReLU if `relu`, then, if `mask` is not null, zero where
/// mask[i, o] <= 0 (the ReLU derivative in a backward pass; mask column-major with ldm).
/// bias may be null (zero). C must not overlap A, B or mask.
///
/// Why not Eigen: with hidden sizes like 50 the whole product is a few short dot products per
/// sample; Eigen's GEMM spends a fifth of its time packing operands and zero-filling C, and a
/// separate pass adds the bias and applies the activation. Here each block of MB outputs x IV
/// SIMD vectors of samples accumulates in registers over the whole reduction and is written
/// once, finished.
template <typename Scalar>
void row_gemm(Index rows, Index outs, Index red, const Scalar* A, Index lda, const Scalar* B,
              Index b_rs, Index b_os, const Scalar* bias, bool relu, const Scalar* mask,
              Index ldm, Scalar* C, Index ldc) {
    Index i0 = 0;
#if defined(__GNUC__)
    constexpr int L = RowGemmVector<Scalar>::lanes;
    constexpr int IV = row_gemm_vector_bytes == 64 ? 4 : 3;
    constexpr int MB = row_gemm_accumulator_registers / IV;
    // Full blocks of IV vectors, then single vectors; scalar code for the last < L rows.
    const auto sweep = [&]<int IVn>(Index start) {
        const Index outs_full = outs - outs % MB;
        for (Index o = 0; o < outs_full; o += MB)
            row_gemm_micro<MB, IVn>(red, A + start, lda, B + o * b_os, b_rs, b_os,
                                    bias != nullptr ? bias + o : nullptr, relu,
                                    mask != nullptr ? mask + o * ldm + start : nullptr, ldm,
                                    C + o * ldc + start, ldc);
        if (outs_full < outs)
            row_gemm_tail<MB, IVn>(outs - outs_full, red, A + start, lda, B + outs_full * b_os,
                                   b_rs, b_os, bias != nullptr ? bias + outs_full : nullptr, relu,
                                   mask != nullptr ? mask + outs_full * ldm + start : nullptr,
                                   ldm, C + outs_full * ldc + start, ldc);
    };
    for (; i0 + IV * L <= rows; i0 += IV * L) sweep.template operator()<IV>(i0);
    for (; i0 + L <= rows; i0 += L) sweep.template operator()<1>(i0);
#endif
    for (; i0 < rows; ++i0)
        for (Index o = 0; o < outs; ++o) {
            Scalar x = bias != nullptr ? bias[o] : Scalar(0);
            for (Index r = 0; r < red; ++r) x += A[i0 + r * lda] * B[r * b_rs + o * b_os];
            if (relu) x = x > Scalar(0) ? x : Scalar(0);
            if (mask != nullptr && !(mask[i0 + o * ldm] > Scalar(0))) x = Scalar(0);
            C[i0 + o * ldc] = x;
        }
}

}  // namespace mlsbi::flows::detail
