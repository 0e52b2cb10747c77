// SPDX-License-Identifier: MIT
// Shared checks for ConditionalDensity tests (gradients, quadrature, sample moments, Adam fits),
// used by test_diagonal_gaussian.cpp and test_mixture_density_network.cpp.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <string>

#include "mlsbi/flows/conditional_density.hpp"
#include "mlsbi/optimizers/adam.hpp"
#include "mlsbi/testing/density_contract.hpp"
#include "mlsbi/testing/gradient_check.hpp"

namespace mlsbi::test_support {

// Eigen's OpenMP-parallel GEMM spins on these small products (the fits ran 20x slower on a
// loaded 2-core machine); every test of a translation unit including this header runs Eigen on
// one thread (the library parallelises over samples instead).
inline const bool eigen_single_threaded = (Eigen::setNbThreads(1), true);

template <typename Scalar>
Matrix<Scalar> uniform_matrix(Index rows, Index cols, RandomStream& rng, double low, double high) {
    Matrix<Scalar> m(rows, cols);
    for (Index j = 0; j < cols; ++j)
        for (Index i = 0; i < rows; ++i) m(i, j) = static_cast<Scalar>(rng.uniform(low, high));
    return m;
}

/// A density with its own flat parameter vector, initialised from `seed` and then perturbed by
/// U(-jitter, jitter) so that no output block sits at a special value.
template <flows::ConditionalDensity D>
struct Model {
    using Scalar = typename D::Scalar;
    ParameterLayout layout;
    D density;
    Vector<Scalar> params;

    Model(const typename D::Options& options, std::uint64_t seed, double jitter = 0.0)
        : density(layout, options), params(layout.size()) {
        RandomStream rng(seed);
        density.initialize(params.data(), rng);
        for (Index i = 0; i < params.size(); ++i)
            params(i) += static_cast<Scalar>(rng.uniform(-jitter, jitter));
    }

    [[nodiscard]] Vector<Scalar> log_prob(const Matrix<Scalar>& y, const Matrix<Scalar>& c) const {
        return log_prob_at(params, y, c);
    }

    [[nodiscard]] Vector<Scalar> log_prob_at(const Vector<Scalar>& p, const Matrix<Scalar>& y,
                                             const Matrix<Scalar>& c) const {
        typename D::Workspace ws;
        Vector<Scalar> out(y.cols());
        density.log_prob(p.data(), y, c, out, ws);
        return out;
    }
};

/// The ConditionalDensity contract's shape errors, each naming `name` and the argument: wrong y
/// rows or columns, wrong context rows, a wrong sample output, a wrong grad_log_prob size.
/// `model` must have input_dim 2 and context_dim 3.
template <flows::ConditionalDensity D>
void check_shape_errors(const Model<D>& m, const std::string& name) {
    REQUIRE(m.density.input_dim() == 2);
    REQUIRE(m.density.context_dim() == 3);
    typename D::Workspace ws;
    Vector<double> out(4);
    const Matrix<double> c = Matrix<double>::Zero(3, 4);
    CHECK_THROWS_WITH(m.density.log_prob(m.params.data(), Matrix<double>::Zero(1, 4), c, out, ws),
                      Catch::Contains(name + "::log_prob: y"));
    CHECK_THROWS_WITH(m.density.log_prob(m.params.data(), Matrix<double>::Zero(2, 5), c, out, ws),
                      Catch::Contains(name + "::log_prob: y"));
    CHECK_THROWS_WITH(m.density.log_prob(m.params.data(), Matrix<double>::Zero(2, 4),
                                         Matrix<double>::Zero(1, 4), out, ws),
                      Catch::Contains(name + "::log_prob: c"));
    Matrix<double> samples(2, 3);
    CHECK_THROWS_WITH(m.density.sample(m.params.data(), c, 1, samples),
                      Catch::Contains(name + "::sample: out"));
    m.density.log_prob(m.params.data(), Matrix<double>::Zero(2, 4), c, out, ws);
    Vector<double> grad(m.params.size());
    CHECK_THROWS_WITH(m.density.backward(m.params.data(), Matrix<double>::Zero(2, 4), c,
                                         Vector<double>::Ones(5), ws, grad.data(), nullptr),
                      Catch::Contains("grad_log_prob"));
}

/// Finite-difference check of backward for L = sum_j w_j log q(y_j | c_j) with random weights of
/// both signs, with respect to the parameters and to the context (the library's
/// testing::check_density_gradients), plus the accumulation and value-only contracts.
template <flows::ConditionalDensity D>
void check_gradients(const Model<D>& model, const Matrix<typename D::Scalar>& y,
                     const Matrix<typename D::Scalar>& c, std::uint64_t seed) {
    using Scalar = typename D::Scalar;
    const Index n = y.cols();
    RandomStream rng(seed);
    const Vector<Scalar> w = uniform_matrix<Scalar>(n, 1, rng, -1.0, 1.0);
    const auto r = testing::check_density_gradients(model.density, model.params, y, c, w);
    INFO("parameters: " << r.parameters.report());
    CHECK(r.parameters.passed);
    INFO("context: " << r.context.report());
    REQUIRE(r.context_shape);
    CHECK(r.context.passed);

    // Accumulation contract: backward adds to grad_params, so a known offset survives.
    typename D::Workspace ws;
    Vector<Scalar> out(n);
    model.density.log_prob(model.params.data(), y, c, out, ws);
    Vector<Scalar> fresh = Vector<Scalar>::Zero(model.params.size());
    model.density.backward(model.params.data(), y, c, w, ws, fresh.data(), nullptr);
    model.density.log_prob(model.params.data(), y, c, out, ws);
    Vector<Scalar> offset = Vector<Scalar>::Constant(model.params.size(), Scalar(0.25));
    model.density.backward(model.params.data(), y, c, w, ws, offset.data(), nullptr);
    offset.array() -= Scalar(0.25);
    CHECK((offset - fresh).template cast<double>().cwiseAbs().maxCoeff() <=
          1e-4 * std::max(1.0, fresh.template cast<double>().cwiseAbs().maxCoeff()));

    // A null grad_params / grad_context must be accepted (value-only callers).
    model.density.log_prob(model.params.data(), y, c, out, ws);
    model.density.backward(model.params.data(), y, c, w, ws, nullptr, nullptr);
}

/// Integral of q(. | c) over [low, high] by the trapezoid rule on `points` nodes (d = 1).
template <flows::ConditionalDensity D>
double integrate_1d(const Model<D>& model, const Vector<typename D::Scalar>& context, double low,
                    double high, Index points) {
    using Scalar = typename D::Scalar;
    Matrix<Scalar> y(1, points);
    const double h = (high - low) / static_cast<double>(points - 1);
    for (Index i = 0; i < points; ++i)
        y(0, i) = static_cast<Scalar>(low + h * static_cast<double>(i));
    const Matrix<Scalar> c = context.replicate(1, points);
    const Vector<double> q = model.log_prob(y, c).template cast<double>().array().exp().matrix();
    return h * (q.sum() - 0.5 * (q(0) + q(points - 1)));
}

/// Integral of q(. | c) over [low, high]^2 by the 2-D trapezoid rule on points^2 nodes (d = 2).
template <flows::ConditionalDensity D>
double integrate_2d(const Model<D>& model, const Vector<typename D::Scalar>& context, double low0,
                    double high0, double low1, double high1, Index points) {
    using Scalar = typename D::Scalar;
    const Index n = points * points;
    Matrix<Scalar> y(2, n);
    const double h0 = (high0 - low0) / static_cast<double>(points - 1);
    const double h1 = (high1 - low1) / static_cast<double>(points - 1);
    for (Index a = 0; a < points; ++a)
        for (Index b = 0; b < points; ++b) {
            y(0, a * points + b) = static_cast<Scalar>(low0 + h0 * static_cast<double>(a));
            y(1, a * points + b) = static_cast<Scalar>(low1 + h1 * static_cast<double>(b));
        }
    const Matrix<Scalar> c = context.replicate(1, n);
    const Vector<double> q = model.log_prob(y, c).template cast<double>().array().exp().matrix();
    double total = 0;
    for (Index a = 0; a < points; ++a)
        for (Index b = 0; b < points; ++b) {
            const double wa = (a == 0 || a == points - 1) ? 0.5 : 1.0;
            const double wb = (b == 0 || b == points - 1) ? 0.5 : 1.0;
            total += wa * wb * q(a * points + b);
        }
    return total * h0 * h1;
}

/// Sample mean and covariance of the columns of x, and the standard errors of each entry
/// (from the sample variances of x_i and of (x_i - m_i)(x_j - m_j)).
struct Moments {
    Vector<double> mean;
    Matrix<double> covariance;
    Vector<double> mean_se;
    Matrix<double> covariance_se;
};

template <typename Scalar>
Moments sample_moments(const Matrix<Scalar>& samples) {
    const Matrix<double> x = samples.template cast<double>();
    const Index d = x.rows();
    const auto n = static_cast<double>(x.cols());
    Moments m;
    m.mean = x.rowwise().mean();
    const Matrix<double> centred = x.colwise() - m.mean;
    m.covariance = centred * centred.transpose() / n;
    m.mean_se = (m.covariance.diagonal() / n).cwiseSqrt();
    m.covariance_se.resize(d, d);
    for (Index a = 0; a < d; ++a)
        for (Index b = 0; b < d; ++b) {
            const Vector<double> prod = centred.row(a).cwiseProduct(centred.row(b)).transpose();
            const double var = (prod.array() - prod.mean()).square().sum() / n;
            m.covariance_se(a, b) = std::sqrt(var / n);
        }
    return m;
}

/// Adam on -mean log q over contiguous minibatches of (y, c) (the data are i.i.d., so no
/// shuffling is needed); the loss gradient is backward with G_j = -1 / batch. Returns the last
/// epoch's mean training loss.
template <flows::ConditionalDensity D>
double fit(Model<D>& model, const Matrix<typename D::Scalar>& y,
           const Matrix<typename D::Scalar>& c, int epochs, Index batch,
           const optimizers::AdamOptions& adam_options) {
    using Scalar = typename D::Scalar;
    optimizers::Adam<Scalar> adam(model.params.size(), adam_options);
    typename D::Workspace ws;
    Vector<Scalar> grad(model.params.size());
    Vector<Scalar> out(batch);
    const Vector<Scalar> g =
        Vector<Scalar>::Constant(batch, Scalar(-1) / static_cast<Scalar>(batch));
    const Index batches = y.cols() / batch;
    double loss = 0;
    for (int epoch = 0; epoch < epochs; ++epoch) {
        loss = 0;
        for (Index b = 0; b < batches; ++b) {
            const auto yb = y.middleCols(b * batch, batch);
            const auto cb = c.middleCols(b * batch, batch);
            model.density.log_prob(model.params.data(), yb, cb, out, ws);
            grad.setZero();
            model.density.backward(model.params.data(), yb, cb, g, ws, grad.data(), nullptr);
            adam.step(model.params, grad);
            loss -= static_cast<double>(out.sum());
        }
        loss /= static_cast<double>(batches * batch);
    }
    return loss;
}

/// Held-out comparison with the true conditional law: mean NLL and its standard error, and the
/// paired estimate of E KL(p || q) = mean(log p - log q) with its standard error (far smaller
/// than the NLL's, since both terms share the sample noise).
struct HeldOut {
    double nll = 0;
    double nll_se = 0;
    double kl = 0;
    double kl_se = 0;
};

template <flows::ConditionalDensity D>
HeldOut held_out(const Model<D>& model, const Matrix<typename D::Scalar>& y,
                 const Matrix<typename D::Scalar>& c, const Vector<double>& true_log_p) {
    const Vector<double> lq = model.log_prob(y, c).template cast<double>();
    const auto n = static_cast<double>(lq.size());
    const Vector<double> diff = true_log_p - lq;
    HeldOut h;
    h.nll = -lq.mean();
    h.nll_se = std::sqrt((lq.array() - lq.mean()).square().sum() / (n - 1) / n);
    h.kl = diff.mean();
    h.kl_se = std::sqrt((diff.array() - diff.mean()).square().sum() / (n - 1) / n);
    return h;
}

}  // namespace mlsbi::test_support
