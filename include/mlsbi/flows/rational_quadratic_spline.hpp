// SPDX-License-Identifier: MIT
/// \file
/// \brief Monotone rational-quadratic spline with identity tails (Durkan et al. 2019): batched
/// forward, closed-form inverse and hand-written backward over contiguous parameter blocks.
#pragma once

#include <algorithm>
#include <cmath>
#include <type_traits>

#include <Eigen/Core>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"

// GCC 12 reports false "uninitialized" warnings inside Eigen's AVX-512 exp/log packets
// (_mm512_undefined_*) when they are inlined here with -march=native; silence them locally.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace mlsbi::flows {

/// Options of a rational-quadratic spline. The defaults are nflows' (and sbi's) defaults.
struct RationalQuadraticSplineOptions {
    Index bins = 10;              ///< K, the number of bins, in [1, 64]
    double tail_bound = 3.0;      ///< B > 0: the spline acts on [-B, B], the identity outside
    double min_bin_width = 1e-3;  ///< minimum bin width as a fraction of 2B; bins * it < 1
    double min_bin_height = 1e-3; ///< minimum bin height as a fraction of 2B; bins * it < 1
    double min_derivative = 1e-3; ///< minimum derivative at an interior knot, in [0, 1)
    /// Multiplies the width and height logits before the softmax. nflows' coupling transforms
    /// divide them by sqrt(hidden features) of the conditioner; the flows pass that here.
    double logit_scale = 1.0;

    /// \throws std::invalid_argument naming the first invalid field.
    void validate() const {
        require(bins >= 1 && bins <= 64,
                "RationalQuadraticSplineOptions: bins must be in [1, 64], got ", bins);
        require(std::isfinite(tail_bound) && tail_bound > 0,
                "RationalQuadraticSplineOptions: tail_bound must be positive, got ", tail_bound);
        require(min_bin_width >= 0 && min_bin_width * static_cast<double>(bins) < 1,
                "RationalQuadraticSplineOptions: min_bin_width must be >= 0 with bins * "
                "min_bin_width < 1, got ", min_bin_width);
        require(min_bin_height >= 0 && min_bin_height * static_cast<double>(bins) < 1,
                "RationalQuadraticSplineOptions: min_bin_height must be >= 0 with bins * "
                "min_bin_height < 1, got ", min_bin_height);
        require(min_derivative >= 0 && min_derivative < 1,
                "RationalQuadraticSplineOptions: min_derivative must be in [0, 1), got ",
                min_derivative);
        require(std::isfinite(logit_scale) && logit_scale > 0,
                "RationalQuadraticSplineOptions: logit_scale must be positive, got ", logit_scale);
    }
};

/// n scalars at data[0], data[stride], ... (e.g. row f of a d x n batch: {batch.data() + f, d}).
template <typename T>
struct Strided {
    T* data = nullptr;
    Index stride = 1;
    [[nodiscard]] T& operator[](Index j) const { return data[j * stride]; }
    [[nodiscard]] Strided from(Index j) const { return {data + j * stride, stride}; }
    operator Strided<const T>() const { return {data, stride}; }  // NOLINT: implicit by design
};

/// A block of per-sample spline parameters: entry (r, j), parameter r of sample j, lives at
/// data[r * row_stride + j * col_stride]. A column-major (3K-1) x n matrix is {data, 1, ld};
/// the sample-contiguous layout (an n x (3K-1) matrix, each parameter a contiguous run over the
/// samples, the fastest: no transposition) is {data, ld, 1}; one column shared by every sample
/// is {data, 1, 0}.
template <typename T>
struct ParameterBlock {
    T* data = nullptr;
    Index row_stride = 1;
    Index col_stride = 0;
    [[nodiscard]] ParameterBlock from(Index j) const {
        return {data + j * col_stride, row_stride, col_stride};
    }
    operator ParameterBlock<const T>() const { return {data, row_stride, col_stride}; }  // NOLINT
};

namespace detail {

/// Lanes of a tile: one value per sample of a block of `T` samples, aligned for SIMD. Every
/// per-sample loop of the spline runs over such arrays, so the compiler vectorises across
/// samples (K = 10 bins would vectorise badly within a sample).
template <typename Scalar, int T>
struct alignas(64) Lane {
    Scalar v[T];
    Scalar& operator[](int j) { return v[j]; }
    const Scalar& operator[](int j) const { return v[j]; }
};

/// max/min by value: std::max returns a reference, which turns the select into a conditional
/// load and stops GCC from vectorising the lane loops.
template <typename Scalar>
inline Scalar max_value(Scalar a, Scalar b) {
    return a < b ? b : a;
}
template <typename Scalar>
inline Scalar min_value(Scalar a, Scalar b) {
    return b < a ? b : a;
}

template <typename Scalar, int T>
using LaneArray = Eigen::Map<Eigen::Array<Scalar, T, 1>, Eigen::AlignedMax>;
template <typename Scalar, int T>
using ConstLaneArray = Eigen::Map<const Eigen::Array<Scalar, T, 1>, Eigen::AlignedMax>;

/// Values of the bin each sample falls in (forward direction notation of Durkan et al.):
/// input knot `lo`, bin width `w`, output knot `ch`, bin height `h`, knot derivatives d0, d1 and
/// their raw (pre-softplus) values r0, r1; plus what the backward pass needs about the softmax:
/// the sum of bin probabilities before the bin and the bin's own probability, for widths and
/// heights, and the bin index.
template <typename Scalar, int T>
struct BinLanes {
    Lane<Scalar, T> lo, w, ch, h, d0, d1, r0, r1;
    Lane<Scalar, T> w_before, w_prob, h_before, h_prob;
    Lane<Scalar, T> idx;
};

/// Softmax over rows [0, K) of a tile buffer (row k holds T lanes), scaled logits:
/// p_k = exp(s u_k - max) / sum. Written in place.
template <typename Scalar, int T>
inline void softmax_rows(Scalar* u, Index K, Scalar scale) {
    Lane<Scalar, T> m, sum;
    for (int j = 0; j < T; ++j) m[j] = u[j];
    for (Index k = 1; k < K; ++k) {
        const Scalar* uk = u + k * T;
        for (int j = 0; j < T; ++j) m[j] = max_value(m[j], uk[j]);
    }
    for (Index k = 0; k < K; ++k) {
        Scalar* uk = u + k * T;
        for (int j = 0; j < T; ++j) uk[j] = scale * (uk[j] - m[j]);
    }
    Eigen::Map<Eigen::Array<Scalar, Eigen::Dynamic, 1>, Eigen::AlignedMax> all(u, K * T);
    all = all.exp();
    for (int j = 0; j < T; ++j) sum[j] = Scalar(0);
    for (Index k = 0; k < K; ++k) {
        const Scalar* uk = u + k * T;
        for (int j = 0; j < T; ++j) sum[j] += uk[j];
    }
    for (int j = 0; j < T; ++j) sum[j] = Scalar(1) / sum[j];
    for (Index k = 0; k < K; ++k) {
        Scalar* uk = u + k * T;
        for (int j = 0; j < T; ++j) uk[j] *= sum[j];
    }
}

/// Knots from bin probabilities p (K rows) exactly as nflows builds them: fractions
/// f_k = m + (1 - m K) p_k, knots 2B cumsum(f) - B with the first fixed to -B and the last to B;
/// then, per lane, the bin [lo, hi] it falls in. `ByValue`: the bin is the number of interior
/// knots <= v (sets idx); otherwise the bin is idx (already set). Also records the sum of p
/// before the bin and p at the bin (for the softmax backward).
template <bool ByValue, typename Scalar, int T>
inline void select_bin(const Scalar* p, Index K, Scalar B, Scalar min_bin, const Scalar* v,
                       Lane<Scalar, T>& idx, Lane<Scalar, T>& lo, Lane<Scalar, T>& hi,
                       Lane<Scalar, T>& before, Lane<Scalar, T>& prob) {
    const Scalar a = Scalar(1) - min_bin * static_cast<Scalar>(K);
    const Scalar two_b = Scalar(2) * B;
    Lane<Scalar, T> cum, cum_p, next;
    for (int j = 0; j < T; ++j) {
        cum[j] = min_bin + a * p[j];
        cum_p[j] = p[j];
        next[j] = K > 1 ? two_b * cum[j] - B : B;
        lo[j] = -B;
        hi[j] = next[j];
        before[j] = Scalar(0);
        prob[j] = p[j];
        if constexpr (ByValue) idx[j] = Scalar(0);
    }
    for (Index k = 1; k < K; ++k) {
        const Scalar* pk = p + k * T;
        const bool last = k + 1 == K;
        const Scalar kk = static_cast<Scalar>(k);
        for (int j = 0; j < T; ++j) {
            const Scalar knot = next[j];
            cum[j] += min_bin + a * pk[j];
            const Scalar nxt = last ? B : two_b * cum[j] - B;
            bool in;
            if constexpr (ByValue)
                in = v[j] >= knot;
            else
                in = idx[j] >= kk;
            lo[j] = in ? knot : lo[j];
            hi[j] = in ? nxt : hi[j];
            before[j] = in ? cum_p[j] : before[j];
            prob[j] = in ? pk[j] : prob[j];
            if constexpr (ByValue) idx[j] = in ? kk : idx[j];
            cum_p[j] += pk[j];
            next[j] = nxt;
        }
    }
}

/// Raw derivative parameters at the bin's two knots: knot k in [1, K-1] uses row k-1 of `ud`,
/// the outer knots use `pad` (so that min_d + softplus(pad) = 1, nflows' boundary condition).
template <typename Scalar, int T>
inline void select_raw_derivatives(const Scalar* ud, Index K, Scalar pad, const Lane<Scalar, T>& idx,
                                   Lane<Scalar, T>& r0, Lane<Scalar, T>& r1) {
    for (int j = 0; j < T; ++j) {
        r0[j] = pad;
        r1[j] = K > 1 ? ud[j] : pad;
    }
    for (Index k = 1; k < K; ++k) {
        const Scalar* prev = ud + (k - 1) * T;
        const Scalar* cur = ud + k * T;
        const bool last = k + 1 == K;
        const Scalar kk = static_cast<Scalar>(k);
        for (int j = 0; j < T; ++j) {
            const bool in = idx[j] >= kk;
            r0[j] = in ? prev[j] : r0[j];
            r1[j] = in ? (last ? pad : cur[j]) : r1[j];
        }
    }
}

/// d = min_d + softplus(r) and, if wanted, sigma(r) = d softplus / dr, lane-wise.
/// softplus(r) = max(r, 0) + log(1 + e^{-|r|}); the exponential is shared with sigma.
template <typename Scalar, int T>
inline void softplus_lanes(const Lane<Scalar, T>& r, Scalar min_d, Lane<Scalar, T>& d,
                           Lane<Scalar, T>* sigma) {
    Lane<Scalar, T> e;
    for (int j = 0; j < T; ++j) e[j] = -std::abs(r[j]);
    LaneArray<Scalar, T>(e.v) = ConstLaneArray<Scalar, T>(e.v).exp();
    if constexpr (std::is_same_v<Scalar, float>)
        LaneArray<Scalar, T>(d.v) = ConstLaneArray<Scalar, T>(e.v).log1p();
    else  // Eigen 3.4 has no vectorised double log1p; log(1 + e) loses < 1e-16 absolute here
        LaneArray<Scalar, T>(d.v) = (ConstLaneArray<Scalar, T>(e.v) + Scalar(1)).log();
    for (int j = 0; j < T; ++j) d[j] += min_d + max_value(r[j], Scalar(0));
    if (sigma != nullptr)
        for (int j = 0; j < T; ++j) {
            const Scalar inv = Scalar(1) / (Scalar(1) + e[j]);
            (*sigma)[j] = r[j] >= Scalar(0) ? inv : e[j] * inv;
        }
}

/// Precomputed constants of a spline in working precision.
template <typename Scalar>
struct SplineConstants {
    Index K = 0;
    Scalar B = 0, min_w = 0, min_h = 0, min_d = 0, scale = 1, pad = 0;
};

}  // namespace detail

/// Monotone rational-quadratic spline on [-B, B] with identity (linear) tails, applied to a batch
/// with per-sample parameters (Durkan et al. 2019, "Neural spline flows", Eqs. 3-4 and App. A).
///
/// Parameters of one sample: a column of 3K - 1 unconstrained numbers
/// `[uw_0..uw_{K-1}, uh_0..uh_{K-1}, ud_0..ud_{K-2}]`. Bin widths and heights are
/// `2B (m + (1 - m K) softmax(s u))` (m = minimum bin fraction, s = logit_scale); interior knot
/// derivatives are `min_d + softplus(ud)`, the two boundary derivatives are 1 (nflows pads with
/// log(expm1(1 - min_d))), so the spline joins the identity tails with slope 1.
/// Inside [-B, B] (bounds included) y is the rational-quadratic interpolant; outside, y = x,
/// log|dy/dx| = 0 and the parameters get zero gradient. Numerically this matches nflows'
/// `unconstrained_rational_quadratic_spline(tails="linear")` and the PyTorch reference
/// `rq_spline_linear_tails`.
///
/// Layout: a batch's parameters are a ParameterBlock, column-major (3K - 1) x n or, fastest,
/// sample-contiguous (each parameter a run over the samples, i.e. the transpose of an
/// n x (3K - 1) matrix), or one shared column; inputs and outputs are Strided runs of n scalars
/// (a row f of a d x n batch is `{data + f, d}`). Every per-sample loop runs over tiles of
/// `tile` samples held in aligned stack arrays: no heap allocation, SIMD across samples.
///
/// References: Durkan, Bekasov, Murray, Papamakarios (2019), Neural spline flows, NeurIPS.
/// \tparam Scalar float or double.
template <typename Scalar_>
class RationalQuadraticSpline {
public:
    using Scalar = Scalar_;
    using Options = RationalQuadraticSplineOptions;
    /// Samples per tile (two AVX-512 registers of floats, four of doubles).
    static constexpr int tile = 32;
    static constexpr Index max_bins = 64;

private:
    static constexpr int T = tile;

public:
    RationalQuadraticSpline() : RationalQuadraticSpline(Options{}) {}

    /// \throws std::invalid_argument if the options are invalid.
    explicit RationalQuadraticSpline(const Options& options) : m_options(options) {
        m_options.validate();
        m_c.K = options.bins;
        m_c.B = static_cast<Scalar>(options.tail_bound);
        m_c.min_w = static_cast<Scalar>(options.min_bin_width);
        m_c.min_h = static_cast<Scalar>(options.min_bin_height);
        m_c.min_d = static_cast<Scalar>(options.min_derivative);
        m_c.scale = static_cast<Scalar>(options.logit_scale);
        m_c.pad = static_cast<Scalar>(std::log(std::expm1(1.0 - options.min_derivative)));
    }

    [[nodiscard]] const Options& options() const { return m_options; }
    [[nodiscard]] Index bins() const { return m_c.K; }
    [[nodiscard]] Scalar tail_bound() const { return m_c.B; }
    /// Parameters per sample: 3K - 1.
    [[nodiscard]] Index parameter_count() const { return 3 * m_c.K - 1; }

    /// y_j = g(x_j; params_j) and logdet_j += log|dg/dx(x_j)|, for j < n.
    /// \param logdet n accumulators, or null. `y` may equal `x` (in place).
    void forward(Index n, ParameterBlock<const Scalar> params, Strided<const Scalar> x,
                 Strided<Scalar> y, Scalar* logdet) const {
        Tile tl;
        for (Index j0 = 0; j0 < n; j0 += T) {
            const int count = static_cast<int>(std::min<Index>(T, n - j0));
            load_tile(tl, params.from(j0), count, x.from(j0));
            bins_forward(tl, nullptr, nullptr);
            evaluate(tl);
            for (int j = 0; j < count; ++j) {
                const bool in = tl.inside[j] != Scalar(0);
                y[j0 + j] = in ? tl.out[j] : tl.x_raw[j];
                if (logdet != nullptr) logdet[j0 + j] += in ? tl.lad[j] : Scalar(0);
            }
        }
    }

    /// x_j = g^{-1}(y_j; params_j) in closed form and logdet_j += log|dg^{-1}/dy(y_j)|.
    ///
    /// In bin k, with dy = y - ch, s2 = d0 + d1 - 2 delta, the bin coordinate t solves
    /// a t^2 + b t + c = 0 with a = dy s2 + h (delta - d0), b = h d0 - dy s2, c = -delta dy; the
    /// root in [0, 1] is t = 2c / (-b - sqrt(b^2 - 4ac)), which avoids cancellation
    /// (Durkan et al. 2019, Eq. 29). `x` may equal `y`; `logdet` may be null.
    void inverse(Index n, ParameterBlock<const Scalar> params, Strided<const Scalar> y,
                 Strided<Scalar> x, Scalar* logdet) const {
        Tile tl;
        detail::BinLanes<Scalar, T>& b = tl.bin;
        for (Index j0 = 0; j0 < n; j0 += T) {
            const int count = static_cast<int>(std::min<Index>(T, n - j0));
            load_tile(tl, params.from(j0), count, y.from(j0));
            const Index K = m_c.K;
            Scalar* uw = tl.buffer;
            Scalar* uh = tl.buffer + K * T;
            detail::softmax_rows<Scalar, T>(uw, K, m_c.scale);
            detail::softmax_rows<Scalar, T>(uh, K, m_c.scale);
            // The output knots decide the bin; the input knots follow the index.
            detail::select_bin<true, Scalar, T>(uh, K, m_c.B, m_c.min_h, tl.x.v, b.idx, b.ch, b.h,
                                                b.h_before, b.h_prob);
            detail::select_bin<false, Scalar, T>(uw, K, m_c.B, m_c.min_w, nullptr, b.idx, b.lo,
                                                 b.w, b.w_before, b.w_prob);
            for (int j = 0; j < T; ++j) {
                b.h[j] -= b.ch[j];
                b.w[j] -= b.lo[j];
            }
            detail::select_raw_derivatives<Scalar, T>(uh + K * T, K, m_c.pad, b.idx, b.r0, b.r1);
            detail::softplus_lanes<Scalar, T>(b.r0, m_c.min_d, b.d0, nullptr);
            detail::softplus_lanes<Scalar, T>(b.r1, m_c.min_d, b.d1, nullptr);
            // Quadratic coefficients; the square root is taken by Eigen over the whole lane
            // (std::sqrt may set errno, which keeps GCC from vectorising the loop).
            detail::Lane<Scalar, T> qb, qc, root;
            for (int j = 0; j < T; ++j) {
                const Scalar delta = b.h[j] / b.w[j];
                const Scalar dy = tl.x[j] - b.ch[j];
                const Scalar s2 = b.d0[j] + b.d1[j] - Scalar(2) * delta;
                const Scalar qa = dy * s2 + b.h[j] * (delta - b.d0[j]);
                qb[j] = b.h[j] * b.d0[j] - dy * s2;
                qc[j] = -delta * dy;
                root[j] = detail::max_value(qb[j] * qb[j] - Scalar(4) * qa * qc[j], Scalar(0));
            }
            detail::LaneArray<Scalar, T>(root.v) = detail::ConstLaneArray<Scalar, T>(root.v).sqrt();
            for (int j = 0; j < T; ++j) {
                const Scalar delta = b.h[j] / b.w[j];
                const Scalar s2 = b.d0[j] + b.d1[j] - Scalar(2) * delta;
                const Scalar t = Scalar(2) * qc[j] / (-qb[j] - root[j]);
                tl.out[j] = t * b.w[j] + b.lo[j];
                const Scalar t1 = t * (Scalar(1) - t);
                const Scalar omt = Scalar(1) - t;
                tl.num[j] = delta * delta *
                            (b.d1[j] * t * t + Scalar(2) * delta * t1 + b.d0[j] * omt * omt);
                tl.den[j] = delta + s2 * t1;
            }
            log_derivative(tl);
            for (int j = 0; j < count; ++j) {
                const bool in = tl.inside[j] != Scalar(0);
                x[j0 + j] = in ? tl.out[j] : tl.x_raw[j];
                if (logdet != nullptr) logdet[j0 + j] -= in ? tl.lad[j] : Scalar(0);
            }
        }
    }

    /// Backward of (y, logdet) = forward(x): given G_y = dL/dy and G_l = dL/dlogdet per sample,
    /// writes dL/dparams into grad_params (any layout; overwritten) and dL/dx into grad_x
    /// (overwritten). An output with null data is skipped; grad_logdet null means 0.
    ///
    /// Derivation (bin quantities lo, w, ch, h, delta = h/w, d0, d1; t = (x - lo)/w):
    /// y = ch + h N/D with N = delta t^2 + d0 t(1-t), D = delta + (d0 + d1 - 2 delta) t(1-t);
    /// logdet = log M + 2 log delta - 2 log D with M = d1 t^2 + 2 delta t(1-t) + d0 (1-t)^2.
    /// The partials in (t, delta, d0, d1, h, ch) are chained through t and delta to (x, lo, w),
    /// then lo = 2B sum_{i<k} f_i - B, w = 2B f_k (equal to the knot difference, since the f sum
    /// to 1; the constant vector this drops is annihilated by the softmax Jacobian), f = m +
    /// (1 - mK) softmax(s u): dL/du_i = s (1 - mK) 2B p_i (g_i - sum_l p_l g_l) with
    /// g_i = G_lo [i < k] + G_w [i = k]; heights alike; dL/dud = G_d sigma(ud) at the bin's knots.
    /// Outside [-B, B]: dL/dx = G_y, no parameter gradient.
    void backward(Index n, ParameterBlock<const Scalar> params, Strided<const Scalar> x,
                  Strided<const Scalar> grad_y, const Scalar* grad_logdet,
                  ParameterBlock<Scalar> grad_params, Strided<Scalar> grad_x) const {
        const Index K = m_c.K;
        Tile tl;
        detail::BinLanes<Scalar, T>& b = tl.bin;
        detail::Lane<Scalar, T> sig0, sig1, gy, gl;
        const Scalar two_b = Scalar(2) * m_c.B;
        const Scalar cw = m_c.scale * (Scalar(1) - m_c.min_w * static_cast<Scalar>(K)) * two_b;
        const Scalar chh = m_c.scale * (Scalar(1) - m_c.min_h * static_cast<Scalar>(K)) * two_b;
        for (Index j0 = 0; j0 < n; j0 += T) {
            const int count = static_cast<int>(std::min<Index>(T, n - j0));
            load_tile(tl, params.from(j0), count, x.from(j0));
            bins_forward(tl, &sig0, &sig1);
            for (int j = 0; j < count; ++j) {
                gy[j] = grad_y[j0 + j];
                gl[j] = grad_logdet != nullptr ? grad_logdet[j0 + j] : Scalar(0);
            }
            for (int j = count; j < T; ++j) gy[j] = gl[j] = Scalar(0);

            // Local partials, lane-wise. Names: G_q = dL/dq.
            detail::Lane<Scalar, T> g_lo, g_w, g_ch, g_h, g_d0, g_d1;
            for (int j = 0; j < T; ++j) {
                const Scalar w = b.w[j], h = b.h[j], d0 = b.d0[j], d1 = b.d1[j];
                const Scalar inv_w = Scalar(1) / w;
                const Scalar delta = h * inv_w;
                const Scalar t = (tl.x[j] - b.lo[j]) * inv_w;
                const Scalar omt = Scalar(1) - t;
                const Scalar t1 = t * omt;
                const Scalar s2 = d0 + d1 - Scalar(2) * delta;
                const Scalar N = delta * t * t + d0 * t1;
                const Scalar D = delta + s2 * t1;
                const Scalar M = d1 * t * t + Scalar(2) * delta * t1 + d0 * omt * omt;
                const Scalar inv_D = Scalar(1) / D;
                const Scalar inv_M = Scalar(1) / M;
                const Scalar h_D2 = h * inv_D * inv_D;
                const Scalar one_m2t = Scalar(1) - Scalar(2) * t;
                // y partials
                const Scalar y_t = h_D2 * delta * M;
                const Scalar y_delta = h_D2 * (t * t * D - N * (Scalar(1) - Scalar(2) * t1));
                const Scalar y_d0 = h_D2 * t1 * (D - N);
                const Scalar y_d1 = -h_D2 * N * t1;
                const Scalar y_h = N * inv_D;
                // logdet partials
                const Scalar M_t = Scalar(2) * (d1 * t + delta * one_m2t - d0 * omt);
                const Scalar l_t = M_t * inv_M - Scalar(2) * s2 * one_m2t * inv_D;
                const Scalar l_delta = Scalar(2) * t1 * inv_M + Scalar(2) / delta -
                                       Scalar(2) * (Scalar(1) - Scalar(2) * t1) * inv_D;
                const Scalar l_d0 = omt * omt * inv_M - Scalar(2) * t1 * inv_D;
                const Scalar l_d1 = t * t * inv_M - Scalar(2) * t1 * inv_D;

                const bool in = tl.inside[j] != Scalar(0);
                const Scalar Gy = in ? gy[j] : Scalar(0);
                const Scalar Gl = in ? gl[j] : Scalar(0);
                const Scalar G_t = Gy * y_t + Gl * l_t;
                const Scalar G_delta = Gy * y_delta + Gl * l_delta;
                tl.out[j] = in ? G_t * inv_w : gy[j];  // dL/dx
                g_lo[j] = -G_t * inv_w;
                g_w[j] = -(G_t * t + G_delta * delta) * inv_w;
                g_ch[j] = Gy;
                g_h[j] = Gy * y_h + G_delta * inv_w;
                g_d0[j] = (Gy * y_d0 + Gl * l_d0) * sig0[j];
                g_d1[j] = (Gy * y_d1 + Gl * l_d1) * sig1[j];
            }
            if (grad_x.data != nullptr)
                for (int j = 0; j < count; ++j) grad_x[j0 + j] = tl.out[j];
            if (grad_params.data == nullptr) continue;

            // Softmax backward, in place over the probability rows of the buffer.
            detail::Lane<Scalar, T> sw, sh;
            for (int j = 0; j < T; ++j) {
                sw[j] = g_lo[j] * b.w_before[j] + g_w[j] * b.w_prob[j];
                sh[j] = g_ch[j] * b.h_before[j] + g_h[j] * b.h_prob[j];
            }
            Scalar* pw = tl.buffer;
            Scalar* ph = tl.buffer + K * T;
            Scalar* ud = tl.buffer + 2 * K * T;
            for (Index k = 0; k < K; ++k) {
                Scalar* pwk = pw + k * T;
                Scalar* phk = ph + k * T;
                const Scalar kk = static_cast<Scalar>(k);
                for (int j = 0; j < T; ++j) {
                    const Scalar gwk = b.idx[j] > kk ? g_lo[j] : (b.idx[j] == kk ? g_w[j] : Scalar(0));
                    const Scalar ghk = b.idx[j] > kk ? g_ch[j] : (b.idx[j] == kk ? g_h[j] : Scalar(0));
                    pwk[j] = cw * pwk[j] * (gwk - sw[j]);
                    phk[j] = chh * phk[j] * (ghk - sh[j]);
                }
            }
            for (Index k = 1; k < K; ++k) {
                Scalar* udk = ud + (k - 1) * T;
                const Scalar kk = static_cast<Scalar>(k);
                for (int j = 0; j < T; ++j)
                    udk[j] = (b.idx[j] == kk ? g_d0[j] : Scalar(0)) +
                             (b.idx[j] + Scalar(1) == kk ? g_d1[j] : Scalar(0));
            }
            store_tile(tl, grad_params.from(j0), count);
        }
    }

    /// forward() with one parameter column shared by all m inputs (the knots are built once):
    /// the fast path for m iid observations under one context.
    void forward_shared(const Scalar* params, Index m, Strided<const Scalar> x, Strided<Scalar> y,
                        Scalar* logdet) const {
        const Index K = m_c.K;
        Scalar cw[max_bins + 1], ch[max_bins + 1], d[max_bins + 1];
        knots_of_column(params, cw, ch, d);
        Tile tl;
        detail::BinLanes<Scalar, T>& b = tl.bin;
        for (Index j0 = 0; j0 < m; j0 += T) {
            const int count = static_cast<int>(std::min<Index>(T, m - j0));
            for (int j = 0; j < count; ++j) tl.x_raw[j] = x[j0 + j];
            for (int j = count; j < T; ++j) tl.x_raw[j] = Scalar(0);
            clamp_inputs(tl);
            for (int j = 0; j < T; ++j) {
                b.lo[j] = cw[0];
                b.w[j] = cw[1];
                b.ch[j] = ch[0];
                b.h[j] = ch[1];
                b.d0[j] = d[0];
                b.d1[j] = d[1];
            }
            for (Index k = 1; k < K; ++k) {
                const Scalar knot = cw[k], next = cw[k + 1], hk = ch[k], hn = ch[k + 1];
                const Scalar dk = d[k], dn = d[k + 1];
                for (int j = 0; j < T; ++j) {
                    const bool in = tl.x[j] >= knot;
                    b.lo[j] = in ? knot : b.lo[j];
                    b.w[j] = in ? next : b.w[j];
                    b.ch[j] = in ? hk : b.ch[j];
                    b.h[j] = in ? hn : b.h[j];
                    b.d0[j] = in ? dk : b.d0[j];
                    b.d1[j] = in ? dn : b.d1[j];
                }
            }
            for (int j = 0; j < T; ++j) {
                b.w[j] -= b.lo[j];
                b.h[j] -= b.ch[j];
            }
            evaluate(tl);
            for (int j = 0; j < count; ++j) {
                const bool in = tl.inside[j] != Scalar(0);
                y[j0 + j] = in ? tl.out[j] : tl.x_raw[j];
                if (logdet != nullptr) logdet[j0 + j] += in ? tl.lad[j] : Scalar(0);
            }
        }
    }

    /// Knots and derivatives of one parameter column: cw, ch (K+1 knots each, from -B to B) and
    /// d (K+1 knot derivatives). Scalar reference code; also used by forward_shared.
    void knots_of_column(const Scalar* column, Scalar* cw, Scalar* ch, Scalar* d) const {
        const Index K = m_c.K;
        const auto knots = [&](const Scalar* u, Scalar min_bin, Scalar* c) {
            Scalar mx = u[0];
            for (Index k = 1; k < K; ++k) mx = std::max(mx, u[k]);
            Scalar e[max_bins];
            Scalar sum = 0;
            for (Index k = 0; k < K; ++k) {
                e[k] = std::exp(m_c.scale * (u[k] - mx));
                sum += e[k];
            }
            const Scalar inv = Scalar(1) / sum;
            const Scalar a = Scalar(1) - min_bin * static_cast<Scalar>(K);
            Scalar cum = 0;
            c[0] = -m_c.B;
            for (Index k = 0; k + 1 < K; ++k) {
                cum += min_bin + a * (e[k] * inv);
                c[k + 1] = Scalar(2) * m_c.B * cum - m_c.B;
            }
            c[K] = m_c.B;
        };
        knots(column, m_c.min_w, cw);
        knots(column + K, m_c.min_h, ch);
        const auto softplus = [&](Scalar r) {
            return m_c.min_d + std::max(r, Scalar(0)) + std::log1p(std::exp(-std::abs(r)));
        };
        d[0] = softplus(m_c.pad);
        d[K] = d[0];
        for (Index k = 1; k < K; ++k) d[k] = softplus(column[2 * K + k - 1]);
    }

    // ---- Eigen conveniences (whole batches) ------------------------------------------------
    // x, y, grad_y, grad_x are 1 x n expressions with direct access (a row of a d x n batch, a
    // RowVector, a 1 x n Matrix); outputs are written through const references, Eigen's idiom
    // for accepting temporaries such as `batch.row(f)`.

    /// y = g(x), logdet += log|dg/dx|. \param params (3K-1) x n (a matrix, a block, the
    /// transpose of an n x (3K-1) matrix; expressions without direct access are evaluated
    /// first); \param x, y 1 x n (y: direct access, e.g. a row of a batch); \param logdet n.
    /// \throws std::invalid_argument on a shape mismatch.
    template <typename P, typename X, typename Y>
    void forward(const Eigen::MatrixBase<P>& params, const Eigen::MatrixBase<X>& x,
                 const Eigen::MatrixBase<Y>& y, VectorRef<Scalar> logdet) const {
        check_shapes("forward", params.rows(), params.cols(), x.rows(), x.cols(), y.rows(),
                     y.cols(), logdet.size());
        Matrix<Scalar> ps, xs;
        forward(x.cols(), block_of(params, ps), row_of(x, xs), output_row(y), logdet.data());
    }

    /// x = g^{-1}(y), logdet += log|dg^{-1}/dy|. Shapes as forward().
    template <typename P, typename Y, typename X>
    void inverse(const Eigen::MatrixBase<P>& params, const Eigen::MatrixBase<Y>& y,
                 const Eigen::MatrixBase<X>& x, VectorRef<Scalar> logdet) const {
        check_shapes("inverse", params.rows(), params.cols(), y.rows(), y.cols(), x.rows(),
                     x.cols(), logdet.size());
        Matrix<Scalar> ps, ys;
        inverse(y.cols(), block_of(params, ps), row_of(y, ys), output_row(x), logdet.data());
    }

    /// Backward of forward(): grad_params ((3K-1) x n, any direct-access layout) and grad_x
    /// (1 x n) are overwritten.
    template <typename P, typename X, typename GY, typename GP, typename GX>
    void backward(const Eigen::MatrixBase<P>& params, const Eigen::MatrixBase<X>& x,
                  const Eigen::MatrixBase<GY>& grad_y, const ConstVectorRef<Scalar>& grad_logdet,
                  const Eigen::MatrixBase<GP>& grad_params, const Eigen::MatrixBase<GX>& grad_x) const {
        check_shapes("backward", params.rows(), params.cols(), x.rows(), x.cols(), grad_x.rows(),
                     grad_x.cols(), grad_logdet.size());
        require(grad_y.rows() == 1 && grad_y.cols() == x.cols() &&
                    grad_params.rows() == parameter_count() && grad_params.cols() == x.cols(),
                "RationalQuadraticSpline::backward: grad_y must be 1 x n and grad_params ",
                parameter_count(), " x n");
        static_assert(has_direct_access<GP>(), "grad_params must have direct access");
        Matrix<Scalar> ps, xs, gs;
        backward(x.cols(), block_of(params, ps), row_of(x, xs), row_of(grad_y, gs),
                 grad_logdet.data(),
                 ParameterBlock<Scalar>{const_cast<Scalar*>(grad_params.derived().data()),
                                        grad_params.derived().rowStride(),
                                        grad_params.derived().colStride()},
                 output_row(grad_x));
    }

private:
    /// Everything one tile needs; lives on the stack of each call.
    struct Tile {
        alignas(64) Scalar buffer[(3 * max_bins - 1) * T];  ///< row r of the tile's parameters
        detail::Lane<Scalar, T> x_raw, x, inside, out, num, den, lad;
        detail::BinLanes<Scalar, T> bin;
    };

    template <typename E>
    static constexpr bool has_direct_access() {
        return (Eigen::internal::traits<E>::Flags & Eigen::DirectAccessBit) != 0;
    }
    /// Input block view of an expression (evaluated into `storage` if it has no direct access).
    template <typename P>
    static ParameterBlock<const Scalar> block_of(const Eigen::MatrixBase<P>& m,
                                                 Matrix<Scalar>& storage) {
        if constexpr (has_direct_access<P>()) {
            return {m.derived().data(), m.derived().rowStride(), m.derived().colStride()};
        } else {
            storage = m;
            return {storage.data(), 1, storage.outerStride()};
        }
    }
    template <typename X>
    static Strided<const Scalar> row_of(const Eigen::MatrixBase<X>& m, Matrix<Scalar>& storage) {
        if constexpr (has_direct_access<X>()) {
            return {m.derived().data(), m.derived().colStride()};
        } else {
            storage = m;
            return {storage.data(), 1};
        }
    }
    template <typename X>
    static Strided<Scalar> output_row(const Eigen::MatrixBase<X>& m) {
        static_assert(has_direct_access<X>(), "outputs must have direct access");
        return {const_cast<Scalar*>(m.derived().data()), m.derived().colStride()};
    }

    void check_shapes(const char* fn, Index p_rows, Index p_cols, Index in_rows, Index n,
                      Index out_rows, Index out_cols, Index logdet_size) const {
        require(p_rows == parameter_count() && p_cols == n && in_rows == 1 && out_rows == 1 &&
                    out_cols == n && logdet_size == n,
                "RationalQuadraticSpline::", fn, ": expected params ", parameter_count(),
                " x n, input and output 1 x n and n log-determinants; got params ", p_rows, " x ",
                p_cols, ", input ", in_rows, " x ", n, ", output ", out_rows, " x ", out_cols, ", ",
                logdet_size, " log-determinants");
    }

    /// Copies the tile's parameters into lane rows (zeros pad a partial tile: uniform bins) and
    /// reads the inputs. The sample-contiguous layout is a plain copy; otherwise a transposition.
    void load_tile(Tile& tl, ParameterBlock<const Scalar> p, int count, Strided<const Scalar> x) const {
        const Index rows = parameter_count();
        if (p.col_stride == 1) {
            for (Index r = 0; r < rows; ++r) {
                const Scalar* src = p.data + r * p.row_stride;
                Scalar* dst = tl.buffer + r * T;
                if (count == T) {  // a fixed-size copy: vector moves, no memcpy call
                    for (int j = 0; j < T; ++j) dst[j] = src[j];
                } else {
                    for (int j = 0; j < count; ++j) dst[j] = src[j];
                    for (int j = count; j < T; ++j) dst[j] = Scalar(0);
                }
            }
        } else {
            for (int j = 0; j < count; ++j) {
                const Scalar* col = p.data + j * p.col_stride;
                for (Index r = 0; r < rows; ++r) tl.buffer[r * T + j] = col[r * p.row_stride];
            }
            // Row by row: GCC 12 (-O3 -march=native) miscompiled the column-by-column form of
            // this padding loop into aligned stores before the buffer.
            for (Index r = 0; r < rows; ++r) {
                Scalar* row = tl.buffer + r * T;
                for (int j = count; j < T; ++j) row[j] = Scalar(0);
            }
        }
        for (int j = 0; j < count; ++j) tl.x_raw[j] = x[j];
        for (int j = count; j < T; ++j) tl.x_raw[j] = Scalar(0);
        clamp_inputs(tl);
    }

    /// Writes the tile's lane rows (parameter gradients) to a block of any layout.
    void store_tile(const Tile& tl, ParameterBlock<Scalar> p, int count) const {
        const Index rows = parameter_count();
        if (p.col_stride == 1) {
            for (Index r = 0; r < rows; ++r) {
                const Scalar* src = tl.buffer + r * T;
                Scalar* dst = p.data + r * p.row_stride;
                if (count == T) {
                    for (int j = 0; j < T; ++j) dst[j] = src[j];
                } else {
                    for (int j = 0; j < count; ++j) dst[j] = src[j];
                }
            }
        } else {
            for (int j = 0; j < count; ++j) {
                Scalar* col = p.data + j * p.col_stride;
                for (Index r = 0; r < rows; ++r) col[r * p.row_stride] = tl.buffer[r * T + j];
            }
        }
    }

    void clamp_inputs(Tile& tl) const {
        const Scalar B = m_c.B;
        for (int j = 0; j < T; ++j) {
            const Scalar v = tl.x_raw[j];
            tl.inside[j] = (v >= -B && v <= B) ? Scalar(1) : Scalar(0);
            tl.x[j] = detail::min_value(detail::max_value(v, -B), B);
        }
    }

    /// Softmaxes and bin selection of the forward direction (the input knots decide the bin).
    void bins_forward(Tile& tl, detail::Lane<Scalar, T>* sig0, detail::Lane<Scalar, T>* sig1) const {
        const Index K = m_c.K;
        detail::BinLanes<Scalar, T>& b = tl.bin;
        Scalar* uw = tl.buffer;
        Scalar* uh = tl.buffer + K * T;
        detail::softmax_rows<Scalar, T>(uw, K, m_c.scale);
        detail::softmax_rows<Scalar, T>(uh, K, m_c.scale);
        detail::select_bin<true, Scalar, T>(uw, K, m_c.B, m_c.min_w, tl.x.v, b.idx, b.lo, b.w,
                                            b.w_before, b.w_prob);
        detail::select_bin<false, Scalar, T>(uh, K, m_c.B, m_c.min_h, nullptr, b.idx, b.ch, b.h,
                                             b.h_before, b.h_prob);
        for (int j = 0; j < T; ++j) {
            b.w[j] -= b.lo[j];
            b.h[j] -= b.ch[j];
        }
        detail::select_raw_derivatives<Scalar, T>(uh + K * T, K, m_c.pad, b.idx, b.r0, b.r1);
        detail::softplus_lanes<Scalar, T>(b.r0, m_c.min_d, b.d0, sig0);
        detail::softplus_lanes<Scalar, T>(b.r1, m_c.min_d, b.d1, sig1);
    }

    /// y (in tl.out) and log dy/dx (in tl.lad) from the selected bins.
    void evaluate(Tile& tl) const {
        const detail::BinLanes<Scalar, T>& b = tl.bin;
        for (int j = 0; j < T; ++j) {
            const Scalar w = b.w[j], h = b.h[j], d0 = b.d0[j], d1 = b.d1[j];
            const Scalar delta = h / w;
            const Scalar t = (tl.x[j] - b.lo[j]) / w;
            const Scalar omt = Scalar(1) - t;
            const Scalar t1 = t * omt;
            const Scalar num = h * (delta * t * t + d0 * t1);
            const Scalar den = delta + (d0 + d1 - Scalar(2) * delta) * t1;
            tl.out[j] = b.ch[j] + num / den;
            tl.num[j] = delta * delta * (d1 * t * t + Scalar(2) * delta * t1 + d0 * omt * omt);
            tl.den[j] = den;
        }
        log_derivative(tl);
    }

    /// lad = log(num) - 2 log(den), vectorised.
    void log_derivative(Tile& tl) const {
        detail::LaneArray<Scalar, T>(tl.lad.v) =
            detail::ConstLaneArray<Scalar, T>(tl.num.v).log() -
            Scalar(2) * detail::ConstLaneArray<Scalar, T>(tl.den.v).log();
    }

    Options m_options;
    detail::SplineConstants<Scalar> m_c;
};

}  // namespace mlsbi::flows

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
