// SPDX-License-Identifier: MIT
/// \file
/// \brief The C2ST classifier as a model, a loss and a stopping policy of training::train_with:
/// an MLP on one flat parameter vector, the logistic loss with scikit-learn's L2 penalty over
/// fixed-size minibatches, and scikit-learn's rule "stop when the training loss has not improved
/// by tol for more than n_iter_no_change epochs".
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/nn/mlp.hpp"
#include "mlsbi/rng/random_stream.hpp"
#include "mlsbi/rng/shuffle.hpp"
#include "mlsbi/training/trainer.hpp"

namespace mlsbi::diagnostics::detail {

/// A binary classifier s(x) = MLP(x) (a logit; class 1 when positive) on one flat parameter
/// vector, initialised Glorot-uniform as scikit-learn's MLPClassifier.
template <typename Scalar_>
class Classifier {
public:
    using Scalar = Scalar_;

    Classifier(Index input_dim, Index hidden_layers, Index width, std::uint64_t seed)
        : m_net(m_layout,
                nn::MlpShape{input_dim,
                             std::vector<Index>(static_cast<std::size_t>(hidden_layers), width), 1,
                             nn::Activation::relu}) {
        m_parameters = Vector<Scalar>::Zero(m_layout.size());
        RandomStream rng(seed);
        // W, b ~ U(-sqrt(6 / (in + out)), +sqrt(6 / (in + out))).
        for (const auto& layer : m_net.layers()) {
            const double in = static_cast<double>(layer.input_dim());
            const double bound = std::sqrt(6.0 / (in + static_cast<double>(layer.output_dim())));
            layer.initialize(m_parameters.data(), rng, bound * std::sqrt(in));
        }
    }

    [[nodiscard]] Vector<Scalar>& parameters() { return m_parameters; }
    [[nodiscard]] const Vector<Scalar>& parameters() const { return m_parameters; }
    [[nodiscard]] Index parameter_count() const { return m_parameters.size(); }
    [[nodiscard]] const nn::Mlp<Scalar>& net() const { return m_net; }

    /// Fraction of the columns of x whose predicted class (logit > 0) equals label (> 0.5).
    [[nodiscard]] double accuracy(const Matrix<Scalar>& x, const Vector<Scalar>& label) const {
        typename nn::Mlp<Scalar>::Workspace ws;
        Index correct = 0;
        const Index chunk = 4096;
        for (Index start = 0; start < x.cols(); start += chunk) {
            const Index b = std::min(chunk, x.cols() - start);
            const Matrix<Scalar>& logits =
                m_net.forward(m_parameters.data(), x.middleCols(start, b), ws);
            for (Index k = 0; k < b; ++k)
                correct += (logits(0, k) > Scalar(0)) == (label(start + k) > Scalar(0.5)) ? 1 : 0;
        }
        return static_cast<double>(correct) / static_cast<double>(x.cols());
    }

private:
    ParameterLayout m_layout;  // before m_net: the net registers its blocks in it
    nn::Mlp<Scalar> m_net;
    Vector<Scalar> m_parameters;
};

/// Mean logistic loss softplus(s) - y s of a minibatch plus scikit-learn's penalty
/// alpha ||W||^2 / (2 b) on the weights (not the biases). Minibatch b of an epoch is samples
/// [b B, min(n, (b + 1) B)) of the current order (B = batch_size, as scikit-learn's
/// gen_batches); a training loss of training::train_with (one term).
template <typename Scalar>
class LogisticLoss {
public:
    LogisticLoss(const Matrix<Scalar>& x, const Vector<Scalar>& label, Index batch_size,
                 double l2_penalty)
        : m_x(x),
          m_label(label),
          m_batch(std::min(batch_size, x.cols())),
          m_l2(l2_penalty),
          m_order(static_cast<std::size_t>(x.cols())) {
        std::iota(m_order.begin(), m_order.end(), Index(0));
        m_batch_x.resize(x.rows(), m_batch);
        m_batch_label.resize(m_batch);
        m_grad_out.resize(1, m_batch);
    }

    [[nodiscard]] Index term_count() const { return 1; }
    /// Minibatches per epoch, ceil(n / batch_size): what batches_per_epoch must be.
    [[nodiscard]] Index batch_count() const { return (m_x.cols() + m_batch - 1) / m_batch; }
    [[nodiscard]] Index max_batches() const { return batch_count(); }
    /// Samples in minibatch `batch`.
    [[nodiscard]] Index batch_size(Index batch) const {
        return std::min(m_batch, m_x.cols() - batch * m_batch);
    }

    /// A new sample order for the next epoch (deterministic in seed).
    void shuffle(std::uint64_t seed) {
        RandomStream rng(seed);
        shuffle_in_place(m_order, rng);
    }

    double evaluate(const Classifier<Scalar>& model, MatrixRef<Scalar> term_gradients,
                    std::vector<double>& term_values, losses::BatchSlice slice) {
        require(slice.count == batch_count(), "LogisticLoss: ", slice.count,
                " batches per epoch, expected ", batch_count());
        const Index first = slice.index * m_batch;
        const Index b = batch_size(slice.index);
        for (Index k = 0; k < b; ++k) {
            const Index j = m_order[static_cast<std::size_t>(first + k)];
            m_batch_x.col(k) = m_x.col(j);
            m_batch_label(k) = m_label(j);
        }
        const Scalar* params = model.parameters().data();
        const auto x = m_batch_x.leftCols(b);
        const Matrix<Scalar>& logits = model.net().forward(params, x, m_ws);
        double loss = 0;
        const double inv_b = 1.0 / static_cast<double>(b);
        for (Index k = 0; k < b; ++k) {
            const double s = static_cast<double>(logits(0, k));
            const double y = static_cast<double>(m_batch_label(k));
            loss += std::max(s, 0.0) - y * s + std::log1p(std::exp(-std::abs(s)));
            m_grad_out(0, k) = static_cast<Scalar>((1.0 / (1.0 + std::exp(-s)) - y) * inv_b);
        }
        auto grad = term_gradients.col(0);
        grad.setZero();
        model.net().backward(params, x, m_grad_out.leftCols(b), m_ws, grad.data(), nullptr);
        double penalty = 0;
        const auto scale = static_cast<Scalar>(m_l2 * inv_b);
        for (const auto& layer : model.net().layers()) {
            const Index count = layer.input_dim() * layer.output_dim();
            const auto w = model.parameters().segment(layer.offset(), count);
            penalty += static_cast<double>(w.squaredNorm());
            grad.segment(layer.offset(), count) += scale * w;
        }
        const double value = loss * inv_b + 0.5 * m_l2 * penalty * inv_b;
        term_values.assign(1, value);
        return value;
    }

private:
    const Matrix<Scalar>& m_x;
    const Vector<Scalar>& m_label;
    Index m_batch;
    double m_l2;
    std::vector<Index> m_order;
    Matrix<Scalar> m_batch_x;
    Vector<Scalar> m_batch_label;
    Matrix<Scalar> m_grad_out;
    typename nn::Mlp<Scalar>::Workspace m_ws;
};

/// scikit-learn's stopping rule as a train_with policy: the epoch's training loss is the
/// sample-weighted mean of its minibatch losses; training stops (status early_stopped) once it
/// has not dropped below the best by more than `tolerance` for more than `patience` epochs.
template <class Loss>
class TrainingLossPlateau {
public:
    TrainingLossPlateau(const Loss& loss, Index samples, double tolerance, Index patience)
        : m_loss(loss), m_samples(samples), m_tolerance(tolerance), m_patience(patience) {}

    void end_step(const training::StepReport& report) {
        m_sum += report.loss * static_cast<double>(m_loss.batch_size(report.batch));
    }

    std::optional<training::StopRequest> end_epoch(const training::EpochReport& report) {
        const double epoch_loss = m_sum / static_cast<double>(m_samples);
        m_sum = 0;
        m_stale = epoch_loss > m_best - m_tolerance ? m_stale + 1 : 0;
        m_best = std::min(m_best, epoch_loss);
        if (m_stale > m_patience) {
            m_converged = true;
            return training::StopRequest{
                training::TrainingStatus::early_stopped,
                message("training loss plateaued (epoch ", report.epoch, ")")};
        }
        return std::nullopt;
    }

    /// The rule stopped training (before max_epochs).
    [[nodiscard]] bool converged() const { return m_converged; }

private:
    const Loss& m_loss;
    Index m_samples;
    double m_tolerance;
    Index m_patience;
    double m_sum = 0;
    double m_best = std::numeric_limits<double>::infinity();
    Index m_stale = 0;
    bool m_converged = false;
};

}  // namespace mlsbi::diagnostics::detail
