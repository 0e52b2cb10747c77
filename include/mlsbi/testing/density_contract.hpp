// SPDX-License-Identifier: MIT
/// \file
/// \brief check_density_contract: runs the flows::ConditionalDensity contract on a user's density
/// (shape errors, gradients by finite differences, value-only backward, batch independence,
/// seeded sampling), free of any test framework, and reports each check.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/parameter_layout.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/flows/conditional_density.hpp"
#include "mlsbi/rng/random_stream.hpp"
#include "mlsbi/testing/gradient_check.hpp"

namespace mlsbi::testing {

/// Options of check_density_contract.
struct DensityContractOptions {
    Index batch = 6;             ///< columns of the random (y, c) batch, >= 2
    double input_range = 2.0;    ///< y entries ~ U(-r, r), > 0 (standardised units)
    double context_range = 1.0;  ///< c entries ~ U(-r, r), > 0
    double jitter = 0.1;     ///< parameters are initialised, then moved by U(-jitter, jitter), >= 0
    std::uint64_t seed = 1;  ///< initialisation, data and weights of the checks
    GradientCheckOptions gradient{};  ///< finite-difference settings (per-Scalar defaults)
    /// Relative tolerance of the batch-independence check: log q of a column evaluated alone
    /// equals its value within a batch up to this (0 = 1e-12 for double, 1e-5 for float).
    double batch_tolerance = 0;

    /// \throws std::invalid_argument naming the first invalid field.
    void validate() const {
        require(batch >= 2, "DensityContractOptions: batch must be >= 2, got ", batch);
        require(input_range > 0 && context_range > 0,
                "DensityContractOptions: input_range and context_range must be > 0");
        require(jitter >= 0, "DensityContractOptions: jitter must be >= 0, got ", jitter);
        gradient.validate();
    }
};

/// One check of the contract.
struct ContractCheck {
    std::string name;  ///< e.g. "gradient with respect to the parameters"
    bool passed = false;
    std::string detail;  ///< why it failed, or what was measured
};

/// All checks of check_density_contract.
struct ContractReport {
    std::vector<ContractCheck> checks;

    [[nodiscard]] bool passed() const {
        for (const ContractCheck& c : checks)
            if (!c.passed) return false;
        return !checks.empty();
    }
    /// One line per check, "ok" or "FAILED", with its detail.
    [[nodiscard]] std::string report() const {
        std::string out;
        for (const ContractCheck& c : checks)
            out += message(c.passed ? "ok     " : "FAILED ", c.name, c.detail.empty() ? "" : ": ",
                           c.detail, "\n");
        return out;
    }
    /// The named check. \throws std::invalid_argument if there is none.
    [[nodiscard]] const ContractCheck& at(const std::string& name) const {
        for (const ContractCheck& c : checks)
            if (c.name == name) return c;
        throw std::invalid_argument(message("ContractReport::at: no check named '", name, "'"));
    }
};

namespace detail {

// A density with its own flat parameter vector (what ConditionalEstimator provides in use).
template <flows::ConditionalDensity D>
struct OwnedDensity {
    using Scalar = typename D::Scalar;
    ParameterLayout layout;
    D density;
    Vector<Scalar> params;

    OwnedDensity(const typename D::Options& options, std::uint64_t seed, double jitter)
        : density(layout, options), params(Vector<Scalar>::Zero(layout.size())) {
        RandomStream rng(seed);
        density.initialize(params.data(), rng);
        for (Index i = 0; i < params.size(); ++i)
            params(i) += static_cast<Scalar>(rng.uniform(-jitter, jitter));
    }

    [[nodiscard]] Vector<Scalar> log_prob(const Vector<Scalar>& p, const Matrix<Scalar>& y,
                                          const Matrix<Scalar>& c) const {
        typename D::Workspace ws;
        Vector<Scalar> out(y.cols());
        density.log_prob(p.data(), y, c, out, ws);
        return out;
    }
};

template <typename Scalar>
Matrix<Scalar> uniform_block(Index rows, Index cols, RandomStream& rng, double range) {
    Matrix<Scalar> m(rows, cols);
    for (Index j = 0; j < cols; ++j)
        for (Index i = 0; i < rows; ++i) m(i, j) = static_cast<Scalar>(rng.uniform(-range, range));
    return m;
}

// Runs `call` and records whether it threw std::invalid_argument.
template <class Call>
ContractCheck expect_invalid_argument(std::string name, Call&& call) {
    ContractCheck check{std::move(name), false, ""};
    try {
        call();
        check.detail = "no exception";
    } catch (const std::invalid_argument&) {
        check.passed = true;
    } catch (const std::exception& e) {
        check.detail = message("threw something else than std::invalid_argument: ", e.what());
    }
    return check;
}

}  // namespace detail

/// Finite-difference checks of one density's backward at (params, y, c) for
/// L = sum_j w_j log q(y_j | c_j).
struct DensityGradientCheck {
    GradientCheckResult parameters;  ///< dL/dparams against central differences
    GradientCheckResult context;     ///< dL/dc against central differences
    bool context_shape = false;      ///< backward wrote a context_dim x n grad_context
    [[nodiscard]] bool passed() const {
        return parameters.passed && context.passed && context_shape;
    }
};

/// Checks backward of `density` at `params` on the batch (y, c) with weights w (n) against
/// central differences of log_prob, with respect to the parameters and to the context.
/// \tparam D a flows::ConditionalDensity.
template <flows::ConditionalDensity D>
[[nodiscard]] DensityGradientCheck check_density_gradients(
    const D& density, const Vector<typename D::Scalar>& params, const Matrix<typename D::Scalar>& y,
    const Matrix<typename D::Scalar>& c, const Vector<typename D::Scalar>& w,
    const GradientCheckOptions& options = {}) {
    using Scalar = typename D::Scalar;
    const Index n = y.cols();
    auto log_prob = [&](const Vector<Scalar>& p, const Matrix<Scalar>& context) {
        typename D::Workspace ws;
        Vector<Scalar> out(n);
        density.log_prob(p.data(), y, context, out, ws);
        return w.template cast<double>().dot(out.template cast<double>());
    };
    typename D::Workspace ws;
    Vector<Scalar> out(n);
    density.log_prob(params.data(), y, c, out, ws);
    Vector<Scalar> grad = Vector<Scalar>::Zero(params.size());
    Matrix<Scalar> grad_c;
    density.backward(params.data(), y, c, w, ws, grad.data(), &grad_c);
    DensityGradientCheck result;
    result.parameters = check_gradient<Scalar>(
        [&](const Vector<Scalar>& p) { return log_prob(p, c); }, params, grad, options);
    result.context_shape = grad_c.rows() == c.rows() && grad_c.cols() == n;
    if (result.context_shape) {
        const Vector<Scalar> c_flat = c.reshaped();
        const Vector<Scalar> g_flat = grad_c.reshaped();
        result.context = check_gradient<Scalar>(
            [&](const Vector<Scalar>& cv) {
                return log_prob(params, Matrix<Scalar>(cv.reshaped(c.rows(), n)));
            },
            c_flat, g_flat, options);
    } else {
        result.context.passed = false;
    }
    return result;
}

/// Checks a density type against the flows::ConditionalDensity contract at the architecture
/// `options` (input_dim, context_dim and the rest), on a random batch:
/// - shape errors: log_prob with y of the wrong rows or columns or c of the wrong rows, sample
///   into an output of the wrong shape, and backward with grad_log_prob of the wrong size each
///   throw std::invalid_argument;
/// - gradients: backward of L = sum_j w_j log q(y_j | c_j) (random w of both signs) matches
///   central differences with respect to the parameters and to the context, and accumulates
///   into grad_params (it adds, it does not overwrite);
/// - value-only backward: null grad_params and grad_context are accepted;
/// - batch independence: log q of each column alone equals its value inside the batch;
/// - sampling: the right shape, finite, the same draws for the same seed, column j the same
///   whether drawn alone or in the batch (stream RandomStream(seed, j)), different for another
///   seed.
/// Never throws for a failing check (each is reported); an exception escaping a call that should
/// succeed is reported as that check's failure.
/// \tparam D a flows::ConditionalDensity.
/// \throws std::invalid_argument for invalid options (of the checker or of the density).
template <flows::ConditionalDensity D>
[[nodiscard]] ContractReport check_density_contract(const typename D::Options& density_options,
                                                    const DensityContractOptions& options = {}) {
    using Scalar = typename D::Scalar;
    options.validate();
    density_options.validate();
    const detail::OwnedDensity<D> model(density_options, options.seed, options.jitter);
    const D& d = model.density;
    const Index n = options.batch, dy = d.input_dim(), dc = d.context_dim();
    RandomStream rng(options.seed, 0x636f6e7472ULL);  // "contr"
    const Matrix<Scalar> y = detail::uniform_block<Scalar>(dy, n, rng, options.input_range);
    const Matrix<Scalar> c = detail::uniform_block<Scalar>(dc, n, rng, options.context_range);
    const Vector<Scalar> w = detail::uniform_block<Scalar>(n, 1, rng, 1.0);
    ContractReport report;
    auto guarded = [&](const std::string& name, auto&& body) {
        ContractCheck check{name, false, ""};
        try {
            body(check);
        } catch (const std::exception& e) {
            check.passed = false;
            check.detail = message("threw: ", e.what());
        }
        report.checks.push_back(std::move(check));
    };

    // --- Shapes.
    {
        typename D::Workspace ws;
        Vector<Scalar> out(n);
        const Scalar* p = model.params.data();
        report.checks.push_back(detail::expect_invalid_argument(
            "log_prob rejects y with wrong rows",
            [&] { d.log_prob(p, Matrix<Scalar>::Zero(dy + 1, n), c, out, ws); }));
        report.checks.push_back(detail::expect_invalid_argument(
            "log_prob rejects y with wrong columns",
            [&] { d.log_prob(p, Matrix<Scalar>::Zero(dy, n + 1), c, out, ws); }));
        report.checks.push_back(detail::expect_invalid_argument(
            "log_prob rejects c with wrong rows",
            [&] { d.log_prob(p, y, Matrix<Scalar>::Zero(dc + 1, n), out, ws); }));
        report.checks.push_back(
            detail::expect_invalid_argument("sample rejects a wrong output", [&] {
                Matrix<Scalar> samples(dy + 1, n);
                d.sample(p, c, 1, samples);
            }));
        report.checks.push_back(
            detail::expect_invalid_argument("backward rejects grad_log_prob of wrong size", [&] {
                d.log_prob(p, y, c, out, ws);
                Vector<Scalar> grad = Vector<Scalar>::Zero(model.params.size());
                const Vector<Scalar> wrong = Vector<Scalar>::Ones(n + 1);
                d.backward(p, y, c, wrong, ws, grad.data(), nullptr);
            }));
    }

    // --- Gradients (and accumulation).
    guarded("backward accumulates into grad_params", [&](ContractCheck& check) {
        typename D::Workspace ws;
        Vector<Scalar> out(n);
        Matrix<Scalar> grad_c;
        d.log_prob(model.params.data(), y, c, out, ws);
        Vector<Scalar> grad = Vector<Scalar>::Zero(model.params.size());
        d.backward(model.params.data(), y, c, w, ws, grad.data(), &grad_c);
        Vector<Scalar> offset = Vector<Scalar>::Constant(model.params.size(), Scalar(0.25));
        d.log_prob(model.params.data(), y, c, out, ws);
        Matrix<Scalar> unused;
        d.backward(model.params.data(), y, c, w, ws, offset.data(), &unused);
        offset.array() -= Scalar(0.25);
        const double gap = (offset - grad).template cast<double>().cwiseAbs().maxCoeff();
        const double scale = std::max(1.0, grad.template cast<double>().cwiseAbs().maxCoeff());
        check.passed = gap <= 1e-4 * scale && grad_c.rows() == dc && grad_c.cols() == n;
        check.detail =
            message("max |(0.25 + g) - 0.25 - g| = ", gap, "; grad_context ", grad_c.rows(), " x ",
                    grad_c.cols(), " (expected ", dc, " x ", n, ")");
    });
    std::optional<DensityGradientCheck> gradients;
    guarded("gradient with respect to the parameters", [&](ContractCheck& check) {
        gradients = check_density_gradients(d, model.params, y, c, w, options.gradient);
        check.passed = gradients->parameters.passed;
        check.detail = gradients->parameters.report();
    });
    guarded("gradient with respect to the context", [&](ContractCheck& check) {
        require(gradients.has_value(), "no gradient (backward failed)");
        check.passed = gradients->context.passed && gradients->context_shape;
        check.detail = gradients->context_shape ? gradients->context.report()
                                                : std::string("grad_context has the wrong shape");
    });
    guarded("backward accepts null gradient outputs", [&](ContractCheck& check) {
        typename D::Workspace ws;
        Vector<Scalar> out(n);
        d.log_prob(model.params.data(), y, c, out, ws);
        d.backward(model.params.data(), y, c, w, ws, nullptr, nullptr);
        check.passed = true;
    });

    // --- Batch independence.
    guarded("log_prob of a column does not depend on the batch", [&](ContractCheck& check) {
        const double tolerance = options.batch_tolerance > 0
                                     ? options.batch_tolerance
                                     : (std::is_same_v<Scalar, float> ? 1e-5 : 1e-12);
        const Vector<Scalar> together = model.log_prob(model.params, y, c);
        double worst = 0;
        for (Index j = 0; j < n; ++j) {
            const Vector<Scalar> alone = model.log_prob(model.params, y.col(j), c.col(j));
            const double a = static_cast<double>(alone(0)), b = static_cast<double>(together(j));
            worst = std::max(worst, std::abs(a - b) / std::max(1.0, std::abs(b)));
        }
        check.passed = together.allFinite() && worst <= tolerance;
        check.detail = message("worst relative difference ", worst, " (tolerance ", tolerance, ")");
    });

    // --- Sampling.
    guarded("sample is seeded, finite and per-column", [&](ContractCheck& check) {
        Matrix<Scalar> a(dy, n), b(dy, n), other(dy, n), first(dy, 1);
        d.sample(model.params.data(), c, 7, a);
        d.sample(model.params.data(), c, 7, b);
        d.sample(model.params.data(), c, 8, other);
        d.sample(model.params.data(), c.leftCols(1), 7, first);
        const bool finite = a.allFinite();
        const bool same = a == b;
        const bool differs = a != other;
        const bool per_column = first.col(0) == a.col(0);
        check.passed = finite && same && differs && per_column;
        check.detail = message(finite ? "" : "non-finite draws; ",
                               same ? "" : "the same seed gave different draws; ",
                               differs ? "" : "another seed gave the same draws; ",
                               per_column ? "" : "column 0 depends on the batch");
    });
    return report;
}

}  // namespace mlsbi::testing
