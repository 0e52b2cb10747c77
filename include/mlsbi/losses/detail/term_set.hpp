// SPDX-License-Identifier: MIT
/// \file
/// \brief Chunked, thread-count-independent evaluation of a list of loss terms (shared by McLoss
/// and MlmcLoss).
#pragma once

#include <algorithm>
#include <numeric>
#include <vector>

#include "mlsbi/core/parallel_for.hpp"
#include "mlsbi/losses/loss_terms.hpp"
#include "mlsbi/rng/random_stream.hpp"
#include "mlsbi/rng/shuffle.hpp"

namespace mlsbi::losses::detail {

/// Number of OpenMP threads to use for `requested` (0 = the OpenMP default).
[[nodiscard]] inline int thread_count(int requested) { return outer_thread_count(requested); }

/// Owns prepared terms and evaluates them in fixed-size column chunks.
///
/// A "task" is one chunk of one term. Tasks run in parallel (OpenMP, dynamic schedule), each
/// with its own Workspace and gradient column; the reduction walks tasks in (term, chunk) order,
/// so every result is bit-identical whatever the number of threads. All buffers are sized at
/// construction for the full batch, so evaluations do no heap work after the first.
template <TrainableEstimator Estimator>
class TermSet {
public:
    using Scalar = typename Estimator::Scalar;

    TermSet() = default;

    TermSet(std::vector<LossTerm<Scalar>> terms, Index parameter_count, Index input_dim,
            Index context_dim, const LossOptions& options, const char* owner)
        : m_terms(std::move(terms)),
          m_options(options),
          m_parameter_count(parameter_count),
          m_input_dim(input_dim),
          m_context_dim(context_dim),
          m_owner(owner) {
        build_tasks(BatchSlice{});
        const std::size_t slots = m_tasks.size();
        m_workspaces.resize(slots);
        m_buffers.resize(slots);
        m_chunk_values.resize(slots);
        m_chunk_gradients = Matrix<Scalar>::Zero(m_parameter_count, static_cast<Index>(slots));
        m_tasks.reserve(slots);
    }

    [[nodiscard]] const std::vector<LossTerm<Scalar>>& terms() const { return m_terms; }
    [[nodiscard]] Index term_count() const { return static_cast<Index>(m_terms.size()); }
    [[nodiscard]] Index parameter_count() const { return m_parameter_count; }
    [[nodiscard]] const LossOptions& options() const { return m_options; }
    /// Tasks and threads of the last evaluate / value / per_sample_losses call.
    [[nodiscard]] const EvaluationStats& last_evaluation() const { return m_last; }

    /// Smallest term size: the largest number of level-stratified batches.
    [[nodiscard]] Index max_batches() const {
        Index n = 0;
        for (const auto& t : m_terms) n = n == 0 ? t.size() : std::min(n, t.size());
        return n;
    }

    /// Gradients of every term (column t of term_gradients, P x T) and their values; returns the
    /// sum of the values (the loss).
    double evaluate(const Estimator& estimator, MatrixRef<Scalar> term_gradients,
                    std::vector<double>& term_values, BatchSlice slice) {
        check_estimator(estimator);
        require(term_gradients.rows() == m_parameter_count && term_gradients.cols() == term_count(),
                m_owner, "::evaluate: term_gradients must be ", m_parameter_count, " x ",
                term_count(), ", got ", term_gradients.rows(), " x ", term_gradients.cols());
        build_tasks(slice);
        run_parallel([&](std::size_t k) {
            const Chunk& task = m_tasks[k];
            const LossTerm<Scalar>& term = m_terms[static_cast<std::size_t>(task.term)];
            Vector<Scalar>& weights = m_buffers[k];
            // d(term)/d log q_i = -sign / n_batch: the term is sign * mean over the batch of -log
            // q.
            weights.setConstant(task.count,
                                static_cast<Scalar>(-term.sign / double(task.batch_size)));
            auto grad = m_chunk_gradients.col(static_cast<Index>(k));
            grad.setZero();
            m_chunk_values[k] = static_cast<double>(estimator.log_prob_gradient(
                term.y.middleCols(task.begin, task.count),
                term.c.middleCols(task.begin, task.count), weights, grad, m_workspaces[k]));
        });
        term_values.assign(m_terms.size(), 0.0);
        term_gradients.setZero();
        for (std::size_t k = 0; k < m_tasks.size(); ++k) {
            const auto t = m_tasks[k].term;
            term_values[static_cast<std::size_t>(t)] += m_chunk_values[k];
            term_gradients.col(t) += m_chunk_gradients.col(static_cast<Index>(k));
        }
        return std::accumulate(term_values.begin(), term_values.end(), 0.0);
    }

    /// Values only (no gradient work) on the slice; returns their sum.
    double value(const Estimator& estimator, std::vector<double>* term_values, BatchSlice slice) {
        check_estimator(estimator);
        build_tasks(slice);
        run_parallel([&](std::size_t k) {
            const Chunk& task = m_tasks[k];
            const LossTerm<Scalar>& term = m_terms[static_cast<std::size_t>(task.term)];
            Vector<Scalar>& log_q = m_buffers[k];
            log_q.resize(task.count);
            estimator.log_prob(term.y.middleCols(task.begin, task.count),
                               term.c.middleCols(task.begin, task.count), log_q, m_workspaces[k]);
            m_chunk_values[k] =
                -term.sign / double(task.batch_size) * log_q.template cast<double>().sum();
        });
        std::vector<double> local;
        std::vector<double>& values = term_values ? *term_values : local;
        values.assign(m_terms.size(), 0.0);
        for (std::size_t k = 0; k < m_tasks.size(); ++k)
            values[static_cast<std::size_t>(m_tasks[k].term)] += m_chunk_values[k];
        return std::accumulate(values.begin(), values.end(), 0.0);
    }

    /// Per-sample losses f_i = -log q(y_i | c_i) of every term on its full data (in the terms'
    /// current column order), in double.
    std::vector<Vector<double>> per_sample_losses(const Estimator& estimator) {
        check_estimator(estimator);
        build_tasks(BatchSlice{});
        std::vector<Vector<double>> out(m_terms.size());
        for (std::size_t t = 0; t < m_terms.size(); ++t) out[t].resize(m_terms[t].size());
        run_parallel([&](std::size_t k) {
            const Chunk& task = m_tasks[k];
            const LossTerm<Scalar>& term = m_terms[static_cast<std::size_t>(task.term)];
            Vector<Scalar>& log_q = m_buffers[k];
            log_q.resize(task.count);
            estimator.log_prob(term.y.middleCols(task.begin, task.count),
                               term.c.middleCols(task.begin, task.count), log_q, m_workspaces[k]);
            out[static_cast<std::size_t>(task.term)].segment(task.begin, task.count) =
                -log_q.template cast<double>();
        });
        return out;
    }

    /// Permutes the columns of every term of each level with one permutation per level (so
    /// seed-matched terms stay aligned), drawn from RandomStream(derive_seed(seed, level)).
    void shuffle(std::uint64_t seed) {
        Index max_level = 0;
        for (const auto& t : m_terms) max_level = std::max(max_level, t.level);
        std::vector<Index> permutation;
        for (Index level = 0; level <= max_level; ++level) {
            Index n = -1;
            for (const auto& t : m_terms)
                if (t.level == level) n = t.size();
            if (n < 0) continue;
            RandomStream rng(derive_seed(seed, static_cast<std::uint64_t>(level)));
            random_permutation(n, rng, permutation);
            for (auto& t : m_terms) {
                if (t.level != level) continue;
                m_scratch = t.y(Eigen::all, permutation);
                t.y.swap(m_scratch);
                m_scratch = t.c(Eigen::all, permutation);
                t.c.swap(m_scratch);
            }
        }
    }

private:
    struct Chunk {
        Index term = 0;
        Index begin = 0;       // first column of the chunk
        Index count = 0;       // columns in the chunk
        Index batch_size = 0;  // columns of the term in this batch (the mean's denominator)
    };

    void build_tasks(BatchSlice slice) {
        require(slice.count >= 1 && slice.index >= 0 && slice.index < slice.count, m_owner,
                ": batch ", slice.index, " of ", slice.count, " is not a valid slice");
        require(slice.count <= max_batches(), m_owner, ": ", slice.count,
                " batches requested but the smallest level has only ", max_batches(), " samples");
        m_tasks.clear();
        const Index chunk = m_options.chunk_size;
        for (std::size_t t = 0; t < m_terms.size(); ++t) {
            const Index n = m_terms[t].size();
            const Index begin = slice.index * n / slice.count;
            const Index end = (slice.index + 1) * n / slice.count;
            for (Index b = begin; b < end; b += chunk)
                m_tasks.push_back(
                    Chunk{static_cast<Index>(t), b, std::min(chunk, end - b), end - begin});
        }
    }

    void check_estimator(const Estimator& estimator) const {
        require(estimator.parameter_count() == m_parameter_count &&
                    estimator.input_dim() == m_input_dim &&
                    estimator.context_dim() == m_context_dim,
                m_owner, ": estimator (", estimator.parameter_count(), " parameters, input_dim ",
                estimator.input_dim(), ", context_dim ", estimator.context_dim(),
                ") differs from the one the loss was built for (", m_parameter_count,
                " parameters, input_dim ", m_input_dim, ", context_dim ", m_context_dim, ")");
    }

    // Runs body(k) for every task through parallel_for (Eigen serial inside a task: its own GEMM
    // splitting is slow at these sizes and changes the rounding); the exception of the lowest
    // failing task is rethrown after the loop.
    template <class Body>
    void run_parallel(Body&& body) {
        const auto count = static_cast<long>(m_tasks.size());
        const int threads =
            static_cast<int>(std::min<long>(thread_count(m_options.threads), count));
        // Threads only pay off when the chunks besides the largest hold real work; otherwise a
        // parallel region costs more than it saves (and much more on a loaded machine).
        Index total = 0;
        Index largest = 0;
        for (const Chunk& c : m_tasks) {
            total += c.count;
            largest = std::max(largest, c.count);
        }
        const bool worth_it = total - largest >= min_parallel_columns;
        m_last = EvaluationStats{static_cast<Index>(count), 1};
        m_last.threads = parallel_for(static_cast<Index>(count), worth_it ? threads : 1,
                                      Schedule::dynamic,
                                      [&](Index k) { body(static_cast<std::size_t>(k)); });
    }

    static constexpr Index min_parallel_columns = 256;

    std::vector<LossTerm<Scalar>> m_terms;
    LossOptions m_options;
    Index m_parameter_count = 0;
    Index m_input_dim = 0;
    Index m_context_dim = 0;
    const char* m_owner = "loss";
    EvaluationStats m_last;
    std::vector<Chunk> m_tasks;
    std::vector<typename Estimator::Workspace> m_workspaces;  // one per task slot
    std::vector<Vector<Scalar>> m_buffers;                    // weights or log q per task slot
    std::vector<double> m_chunk_values;
    Matrix<Scalar> m_chunk_gradients;  // P x task slots
    Matrix<Scalar> m_scratch;
};

}  // namespace mlsbi::losses::detail
