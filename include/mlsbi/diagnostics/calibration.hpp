// SPDX-License-Identifier: MIT
/// \file
/// \brief Calibration of posterior approximations: expected coverage of highest-density (HPD)
/// and central credible regions, and simulation-based calibration (SBC) ranks with a uniformity
/// test.
///
/// Protocol (the paper's, Hikida et al. 2025 Sec. 5, from sbi): for N test pairs (theta_i, x_i)
/// drawn from the prior and simulator, draw L posterior samples (2000 in the paper) given x_i and
/// find the smallest credible level whose region contains theta_i (its "credibility"). A
/// calibrated posterior makes the credibility uniform, so the fraction of test points covered at
/// level alpha is alpha for every alpha; above the diagonal is conservative, below overconfident.
/// - HPD: the region {q > c} of mass alpha; theta_i is inside iff the fraction of samples with
///   log q(sample) > log q(theta_i) is below alpha (ranks of sample log-densities).
/// - Central: per dimension, the interval between the (1 - alpha)/2 and (1 + alpha)/2 marginal
///   quantiles; credibility |2 F(theta_i) - 1| with F the marginal sample CDF.
/// - SBC: rank of theta_i among the L samples per dimension, uniform on {0, ..., L} for an exact
///   posterior (Talts et al. 2018); tested with a chi-square statistic on binned ranks.
///
/// References: Talts, Betancourt, Simpson, Vehtari, Gelman (2018), Validating Bayesian inference
/// algorithms with simulation-based calibration, arXiv:1804.06788; Hermans et al. (2022), A trust
/// crisis in simulation-based inference? (expected coverage), TMLR.
#pragma once

#include <algorithm>
#include <boost/math/special_functions/gamma.hpp>
#include <cmath>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"

namespace mlsbi::diagnostics {

/// HPD credibility of the true value: the fraction of posterior samples whose log density
/// exceeds the true value's (ties count one half). theta is inside the HPD region of level alpha
/// iff this is below alpha.
/// \param sample_log_density log q at the L posterior samples; \param true_log_density log q at
///        the true value (may be -infinity: credibility 1).
/// \throws std::invalid_argument if there are no samples or a value is NaN.
[[nodiscard]] inline double hpd_credibility(const ConstVectorRef<double>& sample_log_density,
                                            double true_log_density) {
    require(sample_log_density.size() >= 1, "hpd_credibility: no samples");
    require(!std::isnan(true_log_density) && !sample_log_density.array().isNaN().any(),
            "hpd_credibility: NaN log density");
    double above = 0;
    for (Index j = 0; j < sample_log_density.size(); ++j) {
        if (sample_log_density(j) > true_log_density)
            above += 1;
        else if (sample_log_density(j) == true_log_density)
            above += 0.5;
    }
    return above / static_cast<double>(sample_log_density.size());
}

/// Central-interval credibility per dimension: |2 F_k(theta_k) - 1|, F_k the fraction of samples
/// below theta_k (ties count one half). theta_k is inside the central interval of level alpha iff
/// this is below alpha.
/// \param samples p x L posterior samples; \param theta the true value (p).
[[nodiscard]] inline Vector<double> central_credibility(const ConstMatrixRef<double>& samples,
                                                        const ConstVectorRef<double>& theta) {
    require(samples.cols() >= 1, "central_credibility: no samples");
    require(samples.rows() == theta.size(), "central_credibility: samples have ", samples.rows(),
            " rows, theta has ", theta.size(), " entries");
    Vector<double> out(theta.size());
    for (Index k = 0; k < theta.size(); ++k) {
        double below = 0;
        for (Index j = 0; j < samples.cols(); ++j) {
            if (samples(k, j) < theta(k))
                below += 1;
            else if (samples(k, j) == theta(k))
                below += 0.5;
        }
        out(k) = std::abs(2 * below / static_cast<double>(samples.cols()) - 1);
    }
    return out;
}

/// Empirical coverage at a set of credible levels.
struct CoverageCurve {
    Vector<double> levels;          ///< nominal levels alpha
    Vector<double> coverage;        ///< fraction of test points whose credibility is below alpha
    Vector<double> standard_error;  ///< binomial sqrt(alpha (1 - alpha) / N) under calibration
    Index num_tests = 0;            ///< N

    /// Largest |coverage - level| / standard_error over the levels strictly inside (0, 1): a
    /// calibrated posterior keeps it below ~3.
    [[nodiscard]] double max_z_score() const {
        double z = 0;
        for (Index i = 0; i < levels.size(); ++i)
            if (standard_error(i) > 0)
                z = std::max(z, std::abs(coverage(i) - levels(i)) / standard_error(i));
        return z;
    }
};

/// Levels 0, 1/(n-1), ..., 1 (n >= 2), e.g. n = 21 for steps of 0.05.
[[nodiscard]] inline Vector<double> coverage_levels(Index n = 21) {
    require(n >= 2, "coverage_levels: n must be >= 2, got ", n);
    return Vector<double>::LinSpaced(n, 0.0, 1.0);
}

/// Coverage curve from the credibilities of N test points (from hpd_credibility or one row of
/// central_credibility): coverage(alpha) = #{i : credibility_i < alpha} / N; at alpha = 1 every
/// point counts as covered.
/// \throws std::invalid_argument on an empty input or levels outside [0, 1].
[[nodiscard]] inline CoverageCurve coverage_curve(const ConstVectorRef<double>& credibility,
                                                  const ConstVectorRef<double>& levels) {
    const Index n = credibility.size();
    require(n >= 1, "coverage_curve: no test points");
    require(levels.size() >= 1, "coverage_curve: no levels");
    CoverageCurve out;
    out.levels = levels;
    out.coverage.resize(levels.size());
    out.standard_error.resize(levels.size());
    out.num_tests = n;
    for (Index i = 0; i < levels.size(); ++i) {
        const double a = levels(i);
        require(a >= 0 && a <= 1, "coverage_curve: levels must be in [0, 1], got ", a);
        Index covered = 0;
        for (Index t = 0; t < n; ++t) covered += (credibility(t) < a || a == 1.0) ? 1 : 0;
        out.coverage(i) = static_cast<double>(covered) / static_cast<double>(n);
        out.standard_error(i) = std::sqrt(a * (1 - a) / static_cast<double>(n));
    }
    return out;
}

/// SBC ranks of the true value per dimension: #{samples with value < theta_k}, in {0, ..., L}.
/// Ties (possible with discrete or MCMC samples) are broken at random by the caller if needed.
/// \param samples p x L posterior samples; \param theta the true value (p).
[[nodiscard]] inline Eigen::Matrix<Index, Eigen::Dynamic, 1> sbc_ranks(
    const ConstMatrixRef<double>& samples, const ConstVectorRef<double>& theta) {
    require(samples.rows() == theta.size(), "sbc_ranks: samples have ", samples.rows(),
            " rows, theta has ", theta.size(), " entries");
    Eigen::Matrix<Index, Eigen::Dynamic, 1> ranks(theta.size());
    for (Index k = 0; k < theta.size(); ++k) ranks(k) = (samples.row(k).array() < theta(k)).count();
    return ranks;
}

/// Chi-square test of uniformity of SBC ranks, per dimension.
struct SbcUniformity {
    Vector<double> chi_square;  ///< per dimension, with bins - 1 degrees of freedom
    Vector<double> p_value;     ///< per dimension, P(chi2_{bins-1} >= statistic)
    Eigen::Matrix<Index, Eigen::Dynamic, Eigen::Dynamic> histogram;  ///< p x bins counts
    Index bins = 0;
};

/// Bins the ranks (values 0..L) into `bins` groups of consecutive rank values (sizes differing
/// by at most one) and compares the counts with their expectation under a uniform rank,
/// N (values in bin) / (L + 1), by Pearson's chi-square.
/// \param ranks p x N ranks (column i: test point i, from sbc_ranks); \param num_samples L;
/// \param bins 2 <= bins <= L + 1 (about N / 20 keeps the expected counts large).
/// \throws std::invalid_argument on a rank outside 0..L or bad sizes.
[[nodiscard]] inline SbcUniformity sbc_uniformity(
    const Eigen::Ref<const Eigen::Matrix<Index, Eigen::Dynamic, Eigen::Dynamic>>& ranks,
    Index num_samples, Index bins) {
    require(ranks.cols() >= 1, "sbc_uniformity: no test points");
    require(num_samples >= 1, "sbc_uniformity: num_samples must be >= 1, got ", num_samples);
    require(bins >= 2 && bins <= num_samples + 1,
            "sbc_uniformity: bins must be in [2, L + 1 = ", num_samples + 1, "], got ", bins);
    const Index values = num_samples + 1;
    SbcUniformity out;
    out.bins = bins;
    out.histogram.setZero(ranks.rows(), bins);
    out.chi_square.resize(ranks.rows());
    out.p_value.resize(ranks.rows());
    const auto n = static_cast<double>(ranks.cols());
    for (Index k = 0; k < ranks.rows(); ++k) {
        for (Index t = 0; t < ranks.cols(); ++t) {
            const Index r = ranks(k, t);
            require(r >= 0 && r <= num_samples, "sbc_uniformity: rank ", r, " outside 0..",
                    num_samples);
            ++out.histogram(k, (r * bins) / values);
        }
        double chi2 = 0;
        for (Index b = 0; b < bins; ++b) {
            // Rank values r with floor(r bins / values) == b.
            const Index first = (b * values + bins - 1) / bins;
            const Index last = ((b + 1) * values + bins - 1) / bins;  // exclusive
            const double expected =
                n * static_cast<double>(last - first) / static_cast<double>(values);
            const double diff = static_cast<double>(out.histogram(k, b)) - expected;
            chi2 += diff * diff / expected;
        }
        out.chi_square(k) = chi2;
        out.p_value(k) = boost::math::gamma_q(0.5 * static_cast<double>(bins - 1), 0.5 * chi2);
    }
    return out;
}

/// Collects, test point by test point, everything the coverage and SBC summaries need, so a
/// calibration run is one loop: for each (theta_i, x_i), draw L posterior samples, evaluate the
/// posterior log density at them and at theta_i, and `add` them.
class CalibrationAccumulator {
public:
    /// \param dim parameter dimension p >= 1; \param num_samples L posterior samples per test
    /// point (the paper uses 2000), >= 1.
    CalibrationAccumulator(Index dim, Index num_samples) : m_dim(dim), m_samples(num_samples) {
        require(dim >= 1, "CalibrationAccumulator: dim must be >= 1, got ", dim);
        require(num_samples >= 1, "CalibrationAccumulator: num_samples must be >= 1, got ",
                num_samples);
    }

    /// Adds one test point.
    /// \param samples p x L posterior draws given x_i; \param sample_log_density L values
    /// log q(sample | x_i); \param theta the true theta_i (p); \param true_log_density
    /// log q(theta_i | x_i).
    /// \throws std::invalid_argument on shape mismatch or NaN.
    void add(const ConstMatrixRef<double>& samples,
             const ConstVectorRef<double>& sample_log_density, const ConstVectorRef<double>& theta,
             double true_log_density) {
        require(samples.rows() == m_dim && samples.cols() == m_samples,
                "CalibrationAccumulator::add: samples must be ", m_dim, " x ", m_samples, ", got ",
                samples.rows(), " x ", samples.cols());
        require(sample_log_density.size() == m_samples,
                "CalibrationAccumulator::add: sample_log_density has ", sample_log_density.size(),
                " entries, expected ", m_samples);
        require(theta.size() == m_dim, "CalibrationAccumulator::add: theta has ", theta.size(),
                " entries, expected ", m_dim);
        const Index t = m_count++;
        if (t >= m_hpd.size()) {  // grow geometrically
            const Index capacity = std::max<Index>(16, 2 * m_hpd.size());
            m_hpd.conservativeResize(capacity);
            m_central.conservativeResize(m_dim, capacity);
            m_ranks.conservativeResize(m_dim, capacity);
            m_log_density.conservativeResize(capacity);
        }
        m_hpd(t) = hpd_credibility(sample_log_density, true_log_density);
        const Vector<double> central = central_credibility(samples, theta);
        const auto ranks = sbc_ranks(samples, theta);
        for (Index k = 0; k < m_dim; ++k) {
            m_central(k, t) = central(k);
            m_ranks(k, t) = ranks(k);
        }
        m_log_density(t) = true_log_density;
    }

    [[nodiscard]] Index num_tests() const { return m_count; }
    [[nodiscard]] Index num_samples() const { return m_samples; }

    /// HPD coverage curve at the given levels (e.g. coverage_levels(), or the paper's
    /// 0.1, 0.3, 0.5, 0.7, 0.9). \throws std::logic_error before the first add.
    [[nodiscard]] CoverageCurve hpd_coverage(const ConstVectorRef<double>& levels) const {
        require_state(m_count > 0, "CalibrationAccumulator::hpd_coverage: no test points added");
        return coverage_curve(m_hpd.head(m_count), levels);
    }
    /// Central-interval coverage curve of dimension k.
    [[nodiscard]] CoverageCurve central_coverage(Index k,
                                                 const ConstVectorRef<double>& levels) const {
        require_state(m_count > 0,
                      "CalibrationAccumulator::central_coverage: no test points added");
        require(k >= 0 && k < m_dim, "CalibrationAccumulator::central_coverage: dimension ", k,
                " out of range");
        return coverage_curve(m_central.row(k).head(m_count).transpose(), levels);
    }
    /// SBC rank uniformity with `bins` bins (default: about N / 20, at least 2, at most L + 1).
    [[nodiscard]] SbcUniformity sbc(Index bins = 0) const {
        require_state(m_count > 0, "CalibrationAccumulator::sbc: no test points added");
        if (bins <= 0)
            bins = std::clamp<Index>(m_count / 20, 2, std::min<Index>(20, m_samples + 1));
        return sbc_uniformity(m_ranks.leftCols(m_count), m_samples, bins);
    }
    /// log q(theta_i | x_i) of every test point (for nlpd()).
    [[nodiscard]] Vector<double> true_log_density() const { return m_log_density.head(m_count); }

private:
    Index m_dim;
    Index m_samples;
    Index m_count = 0;
    Vector<double> m_hpd;
    Matrix<double> m_central;
    Eigen::Matrix<Index, Eigen::Dynamic, Eigen::Dynamic> m_ranks;
    Vector<double> m_log_density;
};

}  // namespace mlsbi::diagnostics
