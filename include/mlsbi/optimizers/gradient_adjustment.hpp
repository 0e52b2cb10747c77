// SPDX-License-Identifier: MIT
/// \file
/// \brief Algorithm 1 of multilevel SBI: rescale the negative correction gradients, then project
/// the base and correction gradients symmetrically when they conflict.
#pragma once

#include <cmath>
#include <utility>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/types.hpp"

namespace mlsbi::optimizers {

/// Switches of the gradient adjustment (the paper's ablation, Table 4, toggles both).
struct GradientAdjustmentOptions {
    bool rescale = true;            ///< g_l^- <- g_l^- ||g_l^+|| / (||g_l^-|| + rescale_epsilon)
    bool project = true;            ///< symmetric projection when <g_0, g_c> < 0
    double rescale_epsilon = 1e-8;  ///< guard of the rescale denominator, >= 0 (paper: 1e-8)

    /// \throws std::invalid_argument naming the invalid field.
    void validate() const {
        require(std::isfinite(rescale_epsilon) && rescale_epsilon >= 0,
                "GradientAdjustmentOptions: rescale_epsilon must be finite and >= 0, got ",
                rescale_epsilon);
    }
};

/// What one adjustment step saw and did (all norms are L2 norms of flat gradients).
/// Vectors have one entry per correction level l = 1..L, stored at index l - 1.
struct GradientAdjustmentDiagnostics {
    double norm_base = 0;                ///< ||g_0||
    std::vector<double> norm_plus;       ///< ||g_l^+||
    std::vector<double> norm_minus;      ///< ||g_l^-|| before rescaling
    std::vector<double> rescale_factor;  ///< factor applied to g_l^- (1 without rescaling)
    double norm_correction = 0;          ///< ||g_c|| after rescaling, before projection
    double cosine = 0;                   ///< cos(g_0, g_c); 0 if either vanishes
    bool conflict = false;               ///< <g_0, g_c> < 0
    bool projected = false;              ///< a projection was applied (conflict and enabled)
    double norm_output = 0;              ///< ||g||, the combined gradient before clipping
};

/// Symmetric projection of two conflicting gradients (PCGrad-style, each against the ORIGINAL
/// other): if d = <a, b> < 0,
///   a' = a - (d / ||b||^2) b,  b' = b - (d / ||a||^2) a,
/// so <a', b> = 0 and <b', a> = 0; otherwise a' = a, b' = b.
/// \param a, b flat gradients of equal size; \param a_out, b_out pre-sized outputs (must not
///        alias the inputs).
/// \return true if a projection was applied.
/// \throws std::invalid_argument on size mismatches.
template <typename Scalar>
bool symmetric_projection(const ConstVectorRef<Scalar>& a, const ConstVectorRef<Scalar>& b,
                          VectorRef<Scalar> a_out, VectorRef<Scalar> b_out) {
    require(a.size() == b.size() && a_out.size() == a.size() && b_out.size() == a.size(),
            "symmetric_projection: sizes differ (a ", a.size(), ", b ", b.size(), ", a_out ",
            a_out.size(), ", b_out ", b_out.size(), ")");
    const double dot = a.template cast<double>().dot(b.template cast<double>());
    if (!(dot < 0)) {
        a_out = a;
        b_out = b;
        return false;
    }
    // dot < 0 implies both norms are positive.
    const double aa = a.template cast<double>().squaredNorm();
    const double bb = b.template cast<double>().squaredNorm();
    a_out = a - static_cast<Scalar>(dot / bb) * b;
    b_out = b - static_cast<Scalar>(dot / aa) * a;
    return true;
}

/// Algorithm 1 of Hikida et al. (2025), "Multilevel neural simulation-based inference", on
/// flat gradients. Given the gradients of the 2L + 1 MLMC loss terms, g_0 = grad h_0,
/// g_l^+ = grad zeta_l^+, g_l^- = grad zeta_l^- (l = 1..L), it returns
///   1. (rescale) g_l^- <- g_l^- ||g_l^+|| / (||g_l^-|| + eps),
///   2. g_c = sum_l (g_l^+ + g_l^-),
///   3. (project) if <g_0, g_c> < 0: g = g_0' + g_c' with the symmetric projection above,
///      else g = g_0 + g_c.
/// Clipping and the Adam step come after (see clipping.hpp, adam.hpp).
///
/// Norms and inner products are accumulated in double (cheap at the parameter counts of SBI
/// networks; makes the conflict test robust in float). One object per training run: the
/// diagnostics buffers are reused, so `adjust` does no heap work after the first call.
/// \tparam Scalar float or double.
template <typename Scalar>
class GradientAdjustment {
public:
    explicit GradientAdjustment(GradientAdjustmentOptions options = {})
        : m_options((options.validate(), options)) {}

    /// For a loss whose terms carry weights (MlmcLoss's control-variate form): the rescale sets
    /// ||g_l^-|| to ratio[l - 1] ||g_l^+|| instead of ||g_l^+||, ratio = |weight of zeta_l^-| /
    /// |weight of zeta_l^+| (= beta_l), so it keeps the weights' proportion. Empty: 1 (the
    /// paper's loss, Algorithm 1 as published).
    /// \throws std::invalid_argument on a negative or non-finite ratio.
    void set_rescale_ratios(std::vector<double> ratio) {
        for (double r : ratio)
            require(std::isfinite(r) && r >= 0,
                    "GradientAdjustment::set_rescale_ratios: ratios must be finite and >= 0, got ",
                    r);
        m_ratio = std::move(ratio);
    }

    /// Combines the term gradients into one update direction.
    /// \param terms P x (2L + 1), columns ordered g_0, g_1^+, g_1^-, g_2^+, g_2^-, ... (the order
    ///        of MlmcLoss's term gradients); L = 0 (one column) gives g = g_0.
    /// \param out pre-sized P; receives g.
    /// \return diagnostics of this step (valid until the next call).
    /// \throws std::invalid_argument if terms has an even number of columns or out's size
    ///         differs from terms.rows().
    const GradientAdjustmentDiagnostics& adjust(const ConstMatrixRef<Scalar>& terms,
                                                VectorRef<Scalar> out) {
        require(terms.cols() >= 1 && terms.cols() % 2 == 1, "GradientAdjustment::adjust: terms ",
                "must have 2L + 1 columns (g_0, then g_l^+, g_l^- per level), got ", terms.cols());
        require(out.size() == terms.rows(), "GradientAdjustment::adjust: out has size ", out.size(),
                ", expected ", terms.rows());
        const Index levels = (terms.cols() - 1) / 2;
        auto& d = m_diagnostics;
        d.norm_plus.resize(static_cast<std::size_t>(levels));
        d.norm_minus.resize(static_cast<std::size_t>(levels));
        d.rescale_factor.resize(static_cast<std::size_t>(levels));

        // out accumulates g_c; g_0 is read from terms.
        out.setZero();
        for (Index l = 1; l <= levels; ++l) {
            const auto plus = terms.col(2 * l - 1);
            const auto minus = terms.col(2 * l);
            const double norm_plus = plus.template cast<double>().norm();
            const double norm_minus = minus.template cast<double>().norm();
            const auto k = static_cast<std::size_t>(l - 1);
            const double ratio = k < m_ratio.size() ? m_ratio[k] : 1.0;
            const double factor = m_options.rescale
                                      ? ratio * norm_plus / (norm_minus + m_options.rescale_epsilon)
                                      : 1.0;
            d.norm_plus[k] = norm_plus;
            d.norm_minus[k] = norm_minus;
            d.rescale_factor[k] = factor;
            out += plus + static_cast<Scalar>(factor) * minus;
        }
        const auto g0 = terms.col(0);
        d.norm_base = g0.template cast<double>().norm();
        d.norm_correction = out.template cast<double>().norm();
        const double dot = g0.template cast<double>().dot(out.template cast<double>());
        const double denominator = d.norm_base * d.norm_correction;
        d.cosine = denominator > 0 ? dot / denominator : 0.0;
        d.conflict = dot < 0;
        d.projected = d.conflict && m_options.project;
        if (d.projected) {
            // g_0' + g_c' = (1 - dot/||g_0||^2) g_0 + (1 - dot/||g_c||^2) g_c, fused in place.
            const double a = 1.0 - dot / (d.norm_base * d.norm_base);
            const double c = 1.0 - dot / (d.norm_correction * d.norm_correction);
            out = static_cast<Scalar>(c) * out + static_cast<Scalar>(a) * g0;
        } else {
            out += g0;
        }
        d.norm_output = out.template cast<double>().norm();
        return d;
    }

    [[nodiscard]] const GradientAdjustmentOptions& options() const { return m_options; }
    [[nodiscard]] const GradientAdjustmentDiagnostics& diagnostics() const { return m_diagnostics; }

private:
    GradientAdjustmentOptions m_options;
    GradientAdjustmentDiagnostics m_diagnostics;
    std::vector<double> m_ratio;  ///< rescale targets per level (empty: 1)
};

}  // namespace mlsbi::optimizers
