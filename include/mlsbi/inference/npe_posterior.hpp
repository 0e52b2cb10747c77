// SPDX-License-Identifier: MIT
/// \file
/// \brief The NPE posterior q(theta | x_obs) restricted to the prior support: direct sampling by
/// rejection of draws outside the support (leakage), with the acceptance rate reported, and the
/// log density optionally renormalised by a Monte Carlo estimate of the in-support mass.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/serial_eigen.hpp"
#include "mlsbi/distributions/prior.hpp"
#include "mlsbi/flows/estimator_task.hpp"
#include "mlsbi/rng/random_stream.hpp"

namespace mlsbi::inference {

/// Thrown by NpePosterior when the fraction of draws inside the prior support collapses below
/// the configured bound: the estimator puts (almost) all its mass where the prior has none.
class LowAcceptanceError : public std::runtime_error {
public:
    LowAcceptanceError(const std::string& what, double acceptance, Index proposed)
        : std::runtime_error(what), m_acceptance(acceptance), m_proposed(proposed) {}
    [[nodiscard]] double acceptance() const { return m_acceptance; }
    [[nodiscard]] Index proposed() const { return m_proposed; }

private:
    double m_acceptance;
    Index m_proposed;
};

/// Options of NpePosterior.
struct NpePosteriorOptions {
    /// Draws per estimator call, >= 1.
    Index batch_size = 4096;
    /// Stop with LowAcceptanceError when, after at least `min_proposals` draws, the fraction inside
    /// the support is below this, in [0, 1) (sbi warns below 1e-3 as well).
    double min_acceptance = 1e-3;
    /// Draws made before the acceptance bound is checked, >= 1.
    Index min_proposals = 10000;
    /// Most draws one sample() call may make, >= 1: with fewer than n accepted by then it stops
    /// with LowAcceptanceError (bounds the work when min_acceptance = 0 or the acceptance sits
    /// just above it). Checked after each batch, so up to batch_size - 1 more may be drawn.
    Index max_proposals = 100'000'000;
    /// Renormalise log_density by the in-support mass Z = P_q(theta in support | x_obs):
    /// log q(theta | x) - log Z, estimated at construction from `leakage_samples` draws.
    bool correct_leakage = false;
    Index leakage_samples = 100000;  ///< draws for the estimate of Z, >= 1
    std::uint64_t leakage_seed = 0;  ///< seed of those draws

    /// \throws std::invalid_argument naming the first invalid field.
    void validate() const {
        require(batch_size >= 1, "NpePosteriorOptions: batch_size must be >= 1, got ", batch_size);
        require(min_acceptance >= 0 && min_acceptance < 1,
                "NpePosteriorOptions: min_acceptance must be in [0, 1), got ", min_acceptance);
        require(min_proposals >= 1, "NpePosteriorOptions: min_proposals must be >= 1, got ",
                min_proposals);
        require(max_proposals >= 1, "NpePosteriorOptions: max_proposals must be >= 1, got ",
                max_proposals);
        require(leakage_samples >= 1, "NpePosteriorOptions: leakage_samples must be >= 1, got ",
                leakage_samples);
    }
};

/// Draws of NpePosterior::sample.
struct NpeSamples {
    Matrix<double> samples;      ///< p x n accepted draws, in the order drawn
    Index proposed = 0;          ///< draws made (accepted + rejected)
    double acceptance_rate = 0;  ///< n / proposed; 1 - leakage
};

/// Posterior of neural posterior estimation for one observation x_obs: q(theta | x_obs) from a
/// conditional estimator trained on y = theta, c = x, truncated to the prior support (as sbi's
/// DirectPosterior does).
///
/// \tparam Estimator a flows::ConditionalEstimator (`Scalar`, `Workspace`, `input_dim()`,
///         `context_dim()`, `log_prob(y, c, out, ws)`, `sample(c, seed, out)`); held by reference.
/// \tparam P a distributions::Prior with dim() == estimator.input_dim().
template <class Estimator, distributions::Prior P>
requires flows::PosteriorTaskCompatible<Estimator>  // a LikelihoodEstimator is not a posterior
class NpePosterior {
public:
    using Scalar = typename Estimator::Scalar;

    /// \param x_obs the observation (estimator.context_dim() entries, raw units).
    /// \throws std::invalid_argument on mismatched dimensions, non-finite x_obs or bad options;
    ///         LowAcceptanceError if correct_leakage finds no draw inside the support.
    NpePosterior(const Estimator& estimator, P prior, const ConstVectorRef<double>& x_obs,
                 NpePosteriorOptions options = {})
        : m_estimator(&estimator),
          m_prior(std::move(prior)),
          m_options((options.validate(), options)) {
        require(m_prior.dim() == estimator.input_dim(), "NpePosterior: prior dimension ",
                m_prior.dim(), " != estimator input_dim ", estimator.input_dim());
        require(x_obs.size() == estimator.context_dim(), "NpePosterior: x_obs has ", x_obs.size(),
                " entries, expected the estimator's context_dim ", estimator.context_dim());
        require_finite(x_obs, "NpePosterior: x_obs");
        m_x = x_obs.template cast<Scalar>();
        if (m_options.correct_leakage)
            estimate_support_mass(m_options.leakage_samples, m_options.leakage_seed);
    }

    [[nodiscard]] Index dim() const { return m_prior.dim(); }
    [[nodiscard]] const P& prior() const { return m_prior; }

    /// n draws from q(theta | x_obs) restricted to the prior support. Proposal batch r is made
    /// with seed derive_seed(seed, r): deterministic given seed and batch_size.
    /// \throws LowAcceptanceError when the acceptance rate is below min_acceptance after
    ///         min_proposals draws, or when max_proposals draws gave fewer than n inside the
    ///         support; std::invalid_argument if n < 0.
    [[nodiscard]] NpeSamples sample(Index n, std::uint64_t seed) const {
        require(n >= 0, "NpePosterior::sample: n must be >= 0, got ", n);
        [[maybe_unused]] const SerialEigen serial;
        NpeSamples out;
        out.samples.resize(dim(), n);
        const Index batch = m_options.batch_size;
        const Matrix<Scalar> context = m_x.replicate(1, batch);
        Matrix<Scalar> draws(dim(), batch);
        Index accepted = 0;
        Vector<double> theta(dim());
        for (std::uint64_t round = 0; accepted < n; ++round) {
            m_estimator->sample(context, derive_seed(seed, round), draws);
            for (Index j = 0; j < batch && accepted < n; ++j) {
                ++out.proposed;
                theta = draws.col(j).template cast<double>();
                if (m_prior.in_support(theta)) out.samples.col(accepted++) = theta;
            }
            const double rate = static_cast<double>(accepted) / static_cast<double>(out.proposed);
            if (accepted < n && out.proposed >= m_options.min_proposals &&
                rate < m_options.min_acceptance)
                throw LowAcceptanceError(
                    message("NpePosterior::sample: only ", accepted, " of ", out.proposed,
                            " draws (", rate,
                            ") fell inside the prior support, below "
                            "min_acceptance = ",
                            m_options.min_acceptance,
                            "; the estimator puts its mass outside the prior (check x_obs is "
                            "in the training range, or train longer)"),
                    rate, out.proposed);
            if (accepted < n && out.proposed >= m_options.max_proposals)
                throw LowAcceptanceError(
                    message("NpePosterior::sample: max_proposals = ", m_options.max_proposals,
                            " reached after ", out.proposed, " draws with only ", accepted,
                            " of the ", n, " requested inside the prior support (acceptance ",
                            rate, "); raise max_proposals, or check that x_obs is in the "
                            "training range"),
                    rate, out.proposed);
        }
        out.acceptance_rate =
            n == 0 ? 1.0 : static_cast<double>(n) / static_cast<double>(out.proposed);
        return out;
    }

    /// out(j) = log q(theta_j | x_obs) (- log Z with correct_leakage) for thetas p x n;
    /// -infinity outside the prior support. Not thread-safe (it reuses a workspace).
    void log_density(const ConstMatrixRef<double>& thetas, VectorRef<double> out) const {
        require(thetas.rows() == dim() && out.size() == thetas.cols(),
                "NpePosterior::log_density: thetas must be ", dim(),
                " x n with out of size n, got ", thetas.rows(), " x ", thetas.cols(), " and ",
                out.size());
        const Index n = thetas.cols();
        [[maybe_unused]] const SerialEigen serial;
        m_thetas = thetas.template cast<Scalar>();
        m_context = m_x.replicate(1, n);
        m_log_q.resize(n);
        m_estimator->log_prob(m_thetas, m_context, m_log_q, m_workspace);
        const double shift = m_options.correct_leakage ? m_log_support_mass : 0.0;
        for (Index j = 0; j < n; ++j)
            out(j) = m_prior.in_support(thetas.col(j)) ? static_cast<double>(m_log_q(j)) - shift
                                                       : -std::numeric_limits<double>::infinity();
    }

    /// Batched-call form, so the posterior is a BatchLogDensity (e.g. for MCMC diagnostics).
    void operator()(const ConstMatrixRef<double>& thetas, VectorRef<double> out) const {
        log_density(thetas, out);
    }

    /// Estimates Z = P_q(theta in support | x_obs) from n draws with `seed` and stores it (used by
    /// log_density when correct_leakage is set). Returns Z; its standard error is
    /// sqrt(Z (1 - Z) / n) (support_mass_standard_error()).
    /// \throws LowAcceptanceError if no draw falls inside the support.
    double estimate_support_mass(Index n, std::uint64_t seed) {
        require(n >= 1, "NpePosterior::estimate_support_mass: n must be >= 1, got ", n);
        [[maybe_unused]] const SerialEigen serial;
        const Index batch = std::min(m_options.batch_size, n);
        const Matrix<Scalar> context = m_x.replicate(1, batch);
        Matrix<Scalar> draws(dim(), batch);
        Index inside = 0;
        Vector<double> theta(dim());
        for (Index begin = 0; begin < n; begin += batch) {
            const Index count = std::min(batch, n - begin);
            m_estimator->sample(
                context.leftCols(count),
                derive_seed(seed, static_cast<std::uint64_t>(begin / batch), 0x6c65616bULL),
                draws.leftCols(count));
            for (Index j = 0; j < count; ++j) {
                theta = draws.col(j).template cast<double>();
                inside += m_prior.in_support(theta) ? 1 : 0;
            }
        }
        if (inside == 0)
            throw LowAcceptanceError(message("NpePosterior::estimate_support_mass: none of ", n,
                                             " draws fell inside the prior support"),
                                     0.0, n);
        m_support_mass = static_cast<double>(inside) / static_cast<double>(n);
        m_support_mass_se =
            std::sqrt(m_support_mass * (1 - m_support_mass) / static_cast<double>(n));
        m_log_support_mass = std::log(m_support_mass);
        return m_support_mass;
    }

    /// The last estimate of the in-support mass Z (1 before any estimate).
    [[nodiscard]] double support_mass() const { return m_support_mass; }
    [[nodiscard]] double support_mass_standard_error() const { return m_support_mass_se; }

private:
    const Estimator* m_estimator;
    P m_prior;
    NpePosteriorOptions m_options;
    Vector<Scalar> m_x;
    double m_support_mass = 1.0;
    double m_support_mass_se = 0.0;
    double m_log_support_mass = 0.0;
    mutable typename Estimator::Workspace m_workspace;
    mutable Matrix<Scalar> m_thetas;
    mutable Matrix<Scalar> m_context;
    mutable Vector<Scalar> m_log_q;
};

}  // namespace mlsbi::inference
