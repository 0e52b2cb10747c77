// SPDX-License-Identifier: MIT
// Helpers shared by the neural spline flow tests: random batches, a plain (unoptimised)
// re-implementation of nflows' rational-quadratic spline, and finite-difference helpers for
// the ConditionalDensity contract.
#pragma once

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "mlsbi/core/types.hpp"
#include "mlsbi/flows/rational_quadratic_spline.hpp"
#include "mlsbi/rng/random_stream.hpp"
#include "mlsbi/testing/gradient_check.hpp"

namespace nsf_test {

using namespace mlsbi;

template <typename Scalar>
Matrix<Scalar> random_matrix(Index rows, Index cols, RandomStream& rng, double low, double high) {
    Matrix<Scalar> m(rows, cols);
    for (Index j = 0; j < cols; ++j)
        for (Index i = 0; i < rows; ++i) m(i, j) = static_cast<Scalar>(rng.uniform(low, high));
    return m;
}

struct NaiveSplineResult {
    double y;
    double lad;
};

// Straightforward transcription of nflows' unconstrained RQ spline with linear tails (one
// sample, double precision, no tiles, no vectorisation): the independent reference.
inline NaiveSplineResult naive_spline(double x, const double* p,
                                      const flows::RationalQuadraticSplineOptions& o) {
    const int K = static_cast<int>(o.bins);
    const double B = o.tail_bound;
    if (x < -B || x > B) return {x, 0.0};
    auto knots = [&](const double* u, double min_bin) {
        std::vector<double> e(static_cast<std::size_t>(K));
        double mx = -1e300, sum = 0;
        for (int k = 0; k < K; ++k) mx = std::max(mx, o.logit_scale * u[k]);
        for (int k = 0; k < K; ++k) sum += e[k] = std::exp(o.logit_scale * u[k] - mx);
        std::vector<double> c(static_cast<std::size_t>(K + 1));
        double cum = 0;
        c[0] = -B;
        for (int k = 0; k < K; ++k) {
            cum += min_bin + (1 - min_bin * K) * e[k] / sum;
            c[k + 1] = 2 * B * cum - B;
        }
        c[K] = B;
        return c;
    };
    const std::vector<double> cw = knots(p, o.min_bin_width);
    const std::vector<double> ch = knots(p + K, o.min_bin_height);
    std::vector<double> d(static_cast<std::size_t>(K + 1));
    const double pad = std::log(std::expm1(1 - o.min_derivative));
    auto softplus = [](double v) { return std::log1p(std::exp(v)); };
    d[0] = d[K] = o.min_derivative + softplus(pad);
    for (int k = 1; k < K; ++k) d[k] = o.min_derivative + softplus(p[2 * K + k - 1]);
    int i = 0;
    for (int k = 1; k < K; ++k)
        if (x >= cw[k]) i = k;
    const double w = cw[i + 1] - cw[i], h = ch[i + 1] - ch[i], delta = h / w;
    const double t = (x - cw[i]) / w, t1 = t * (1 - t);
    const double num = h * (delta * t * t + d[i] * t1);
    const double den = delta + (d[i] + d[i + 1] - 2 * delta) * t1;
    const double dnum =
        delta * delta * (d[i + 1] * t * t + 2 * delta * t1 + d[i] * (1 - t) * (1 - t));
    return {ch[i] + num / den, std::log(dnum) - 2 * std::log(den)};
}

/// Gradient checks of a ConditionalDensity's backward on L = sum_j r_j log q(y_j | c_j), with
/// respect to the parameters and to the context. The finite differences evaluate `twin`, a
/// double-precision instance of the same architecture (the same object when Scalar is double),
/// at the (cast) perturbed point: float rounding in a sum of log-densities would otherwise
/// swamp the differences, while the analytic gradient checked is still the float code's.
template <typename Density, typename Twin>
std::pair<testing::GradientCheckResult, testing::GradientCheckResult> check_density_gradients(
    const Density& density, const Twin& twin, const Vector<typename Density::Scalar>& params,
    const Matrix<typename Density::Scalar>& y, const Matrix<typename Density::Scalar>& c,
    const Vector<typename Density::Scalar>& r, testing::GradientCheckOptions options = {}) {
    using Scalar = typename Density::Scalar;
    static_assert(std::is_same_v<typename Twin::Scalar, double>);
    const Index n = y.cols();
    typename Density::Workspace ws;
    Vector<Scalar> out(n);
    density.log_prob(params.data(), y, c, out, ws);
    Vector<Scalar> grad = Vector<Scalar>::Zero(params.size());
    Matrix<Scalar> grad_c;
    density.backward(params.data(), y, c, r, ws, grad.data(), &grad_c);
    const Matrix<double> yd = y.template cast<double>();
    const Vector<double> rd = r.template cast<double>();
    auto loss = [&](const Vector<Scalar>& p, const Matrix<Scalar>& cc) {
        typename Twin::Workspace w;
        Vector<double> o(n);
        const Vector<double> pd = p.template cast<double>();
        twin.log_prob(pd.data(), yd, cc.template cast<double>(), o, w);
        return o.dot(rd);
    };
    if (std::is_same_v<Scalar, float> && options.step == 0) options.step = 1e-3;
    const auto by_params = testing::check_gradient<Scalar>(
        [&](const Vector<Scalar>& p) { return loss(p, c); }, params, grad, options);
    const Vector<Scalar> c_flat = c.reshaped();
    const Vector<Scalar> gc_flat = grad_c.reshaped();
    const auto by_context = testing::check_gradient<Scalar>(
        [&](const Vector<Scalar>& v) { return loss(params, v.reshaped(c.rows(), n)); }, c_flat,
        gc_flat, options);
    return {by_params, by_context};
}

}  // namespace nsf_test
