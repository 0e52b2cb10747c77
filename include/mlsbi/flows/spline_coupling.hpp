// SPDX-License-Identifier: MIT
/// \file
/// \brief Rational-quadratic spline coupling transform with a context (nflows'
/// PiecewiseRationalQuadraticCouplingTransform with linear tails), the building block of the
/// coupling neural spline flow.
#pragma once

#include <cmath>
#include <type_traits>
#include <vector>

#include "mlsbi/flows/rational_quadratic_spline.hpp"
#include "mlsbi/nn/residual_net.hpp"

namespace mlsbi::flows {

/// Architecture of one coupling layer.
struct SplineCouplingOptions {
    Index input_dim = 2;     ///< D, >= 2
    Index context_dim = 1;   ///< >= 0 (0: unconditional)
    bool even = true;        ///< nflows' alternating mask: transform features 0, 2, ... if true,
                             ///< 1, 3, ... if false; the others pass through and condition
    Index hidden = 32;       ///< conditioner width
    Index blocks = 2;        ///< conditioner residual blocks
    Index bins = 10;         ///< K, in [1, 64]
    double tail_bound = 3.0; ///< B > 0
    nn::Activation activation = nn::Activation::relu;

    /// \throws std::invalid_argument naming the first invalid field.
    void validate() const {
        require(input_dim >= 2, "SplineCouplingOptions: input_dim must be >= 2, got ", input_dim);
        require(context_dim >= 0, "SplineCouplingOptions: context_dim must be >= 0, got ",
                context_dim);
        require(bins >= 1 && bins <= 64, "SplineCouplingOptions: bins must be in [1, 64], got ",
                bins);
        require(std::isfinite(tail_bound) && tail_bound > 0,
                "SplineCouplingOptions: tail_bound must be positive, got ", tail_bound);
        require(hidden >= 1, "SplineCouplingOptions: hidden must be >= 1, got ", hidden);
        require(blocks >= 0, "SplineCouplingOptions: blocks must be >= 0, got ", blocks);
    }
};

/// Coupling layer z = g(x): with the alternating mask splitting the features into an identity
/// part x_a and a transformed part x_b,
///   theta = Conditioner(x_a, c),   z_a = x_a,   z_b,i = spline(x_b,i; theta_i),
///   log|det dz/dx| = sum_i log|d spline / d x_b,i|.
/// theta holds 3K - 1 numbers per transformed feature, feature i's block at rows
/// [i (3K-1), (i+1) (3K-1)) of the conditioner output (nflows' view(b, d, -1)); widths and
/// heights are divided by sqrt(hidden) before the softmax (nflows does this for conditioners
/// with `hidden_features`). Splines have identity tails outside [-B, B].
///
/// \tparam Scalar float or double.
/// \tparam Conditioner the network theta = f(x_a, c): constructible from
///   (ParameterLayout&, nn::ResidualNetShape), with `forward(params, x_a, c, ws)` returning the
///   output (out x n), `backward(params, x_a, c, G, ws, grad_params, grad_x_a*, grad_c*)`,
///   `initialize(params, rng)` and a nested `Workspace`; nn::ResidualNet (the default, nflows'
///   ResidualNet with context) is the model.
template <typename Scalar, typename Conditioner = nn::ResidualNet<Scalar>>
class SplineCoupling {
public:
    using MatrixType = Matrix<Scalar>;
    using VectorType = Vector<Scalar>;
    using Options = SplineCouplingOptions;

    struct Workspace {
        typename Conditioner::Workspace net;
        MatrixType x_identity;  ///< identity features, |a| x n
        MatrixType grad_theta;  ///< dL/dtheta, same shape as the conditioner output
        MatrixType grad_identity;
        MatrixType grad_c;
    };

    SplineCoupling() = default;

    /// \throws std::invalid_argument if the options are invalid.
    SplineCoupling(ParameterLayout& layout, const Options& options)
        : m_options((options.validate(), options)),
          m_spline(RationalQuadraticSplineOptions{
              .bins = options.bins,
              .tail_bound = options.tail_bound,
              .logit_scale = 1.0 / std::sqrt(static_cast<double>(options.hidden))}) {
        for (Index f = 0; f < options.input_dim; ++f)
            ((f % 2 == 0) == options.even ? m_transformed : m_identity).push_back(f);
        m_net = Conditioner(layout, nn::ResidualNetShape{
                                        .input_dim = static_cast<Index>(m_identity.size()),
                                        .context_dim = options.context_dim,
                                        .hidden = options.hidden,
                                        .num_blocks = options.blocks,
                                        .output_dim = static_cast<Index>(m_transformed.size()) *
                                                      m_spline.parameter_count(),
                                        .activation = options.activation});
    }

    [[nodiscard]] const Options& options() const { return m_options; }
    [[nodiscard]] const std::vector<Index>& identity_features() const { return m_identity; }
    [[nodiscard]] const std::vector<Index>& transformed_features() const { return m_transformed; }
    [[nodiscard]] const Conditioner& conditioner() const { return m_net; }
    [[nodiscard]] const RationalQuadraticSpline<Scalar>& spline() const { return m_spline; }
    [[nodiscard]] Index parameter_count() const { return m_net.parameter_count(); }

    void initialize(Scalar* params, RandomStream& rng) const { m_net.initialize(params, rng); }

    /// z = g(x) (D x n each; z must not alias x) and logdet_j += log|det dz/dx| (n).
    /// \param c context (context_dim x n; ignored if context_dim == 0).
    void forward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                 const ConstMatrixRef<Scalar>& c, MatrixRef<Scalar> z, Scalar* logdet,
                 Workspace& ws) const {
        const Index n = x.cols();
        const MatrixType& theta = conditioner_forward(params, x, c, ws);
        z = x;
        for (std::size_t a = 0; a < m_transformed.size(); ++a) {
            const Index f = m_transformed[a];
            m_spline.forward(n, block(theta, a), row(x, f), row(z, f), logdet);
        }
    }

    /// x = g^{-1}(z) (x may not alias z) and, if logdet is not null, logdet_j -= log|det dz/dx|.
    void inverse(const Scalar* params, const ConstMatrixRef<Scalar>& z,
                 const ConstMatrixRef<Scalar>& c, MatrixRef<Scalar> x, Scalar* logdet,
                 Workspace& ws) const {
        const Index n = z.cols();
        const MatrixType& theta = conditioner_forward(params, z, c, ws);  // z_a = x_a
        x = z;
        for (std::size_t a = 0; a < m_transformed.size(); ++a) {
            const Index f = m_transformed[a];
            m_spline.inverse(n, block(theta, a), row(z, f), row(x, f), logdet);
        }
    }

    /// Backward of the last forward on `ws` (same x, c) given G = dL/dz (D x n) and
    /// g = dL/dlogdet (n): accumulates dL/dparams into grad_params (if not null), writes dL/dx
    /// into grad_x (D x n) and, if grad_c is not null, adds dL/dc into it (context_dim x n).
    ///
    /// Derivation: z_b depends on x_b (through the spline) and on theta; z_a = x_a and theta
    /// depend on x_a. So dL/dx_b = spline backward, dL/dtheta = spline backward, then
    /// dL/dx_a = G_a + Conditioner backward (x_a), and dL/dc = Conditioner backward (c).
    void backward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                  const ConstMatrixRef<Scalar>& c, const ConstMatrixRef<Scalar>& grad_z,
                  const Scalar* grad_logdet, Workspace& ws, Scalar* grad_params,
                  MatrixType& grad_x, MatrixType* grad_c) const {
        const Index n = x.cols();
        const MatrixType& theta = ws.net.output();
        MLSBI_ASSERT(theta.cols() == n && grad_z.cols() == n);
        ws.grad_theta.resize(theta.rows(), n);
        grad_x.resize(x.rows(), n);
        for (std::size_t a = 0; a < m_transformed.size(); ++a) {
            const Index f = m_transformed[a];
            m_spline.backward(n, block(theta, a), row(x, f), row(grad_z, f), grad_logdet,
                              ParameterBlock<Scalar>{ws.grad_theta.data() +
                                                         static_cast<Index>(a) * m_spline.parameter_count(),
                                                     1, ws.grad_theta.outerStride()},
                              row(grad_x, f));
        }
        const bool want_c = grad_c != nullptr && m_options.context_dim > 0;
        m_net.backward(params, ws.x_identity, c, ws.grad_theta, ws.net, grad_params,
                       &ws.grad_identity, want_c ? &ws.grad_c : nullptr);
        for (std::size_t a = 0; a < m_identity.size(); ++a) {
            const Index f = m_identity[a];
            grad_x.row(f) = grad_z.row(f) + ws.grad_identity.row(static_cast<Index>(a));
        }
        if (want_c) *grad_c += ws.grad_c;
    }

private:
    const MatrixType& conditioner_forward(const Scalar* params, const ConstMatrixRef<Scalar>& x,
                                          const ConstMatrixRef<Scalar>& c, Workspace& ws) const {
        const Index n = x.cols();
        ws.x_identity.resize(static_cast<Index>(m_identity.size()), n);
        for (std::size_t a = 0; a < m_identity.size(); ++a)
            ws.x_identity.row(static_cast<Index>(a)) = x.row(m_identity[a]);
        return m_net.forward(params, ws.x_identity, c, ws.net);
    }

    [[nodiscard]] ParameterBlock<const Scalar> block(const MatrixType& theta, std::size_t a) const {
        return {theta.data() + static_cast<Index>(a) * m_spline.parameter_count(), 1,
                theta.outerStride()};
    }
    template <typename M>
    [[nodiscard]] static auto row(M& m, Index f) {
        using T = std::remove_pointer_t<decltype(m.data())>;
        return Strided<T>{m.data() + f * m.innerStride(), m.outerStride()};
    }

    Options m_options{};
    RationalQuadraticSpline<Scalar> m_spline{};
    std::vector<Index> m_identity{};
    std::vector<Index> m_transformed{};
    Conditioner m_net{};
};

}  // namespace mlsbi::flows
