// SPDX-License-Identifier: MIT
/// \file
/// \brief The training loop shared by MC and MLMC training: per-term gradients, gradient
/// adjustment (Algorithm 1), clipping, an optimizer policy (Adam by default); full-batch or
/// level-stratified mini-batch epochs; fixed epochs or early stopping; callback policies and a
/// resumable state; a summary with a status instead of throwing mid-loop.
#pragma once

#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mlsbi/losses/loss_terms.hpp"
#include "mlsbi/optimizers/adam.hpp"
#include "mlsbi/optimizers/clipping.hpp"
#include "mlsbi/optimizers/gradient_adjustment.hpp"
#include "mlsbi/optimizers/optimizer.hpp"
#include "mlsbi/rng/random_stream.hpp"
#include "mlsbi/training/runaway.hpp"

namespace mlsbi::training {

/// Options of `train`. Defaults are the paper's ML training: full batch, fixed epochs, Adam
/// (lr 1e-4, betas 0.85/0.999), both gradient adjustments, clipping at norm 5.
struct TrainingOptions {
    int max_epochs = 1000;        ///< epochs to run (>= 1); the cap when early stopping
    Index batches_per_epoch = 1;  ///< 1 = full batch (paper); B > 1 = B level-stratified
                                  ///< mini-batches per epoch (B <= smallest level size)
    bool early_stopping = false;  ///< stop after `patience` epochs without a better
                                  ///< validation loss (needs a validation loss)
    int patience = 20;            ///< >= 1
    double min_improvement = 0;   ///< a validation loss counts as better if below best - this
    bool restore_best = true;     ///< with a validation loss: end with the best-validated weights
    optimizers::AdamOptions adam{};
    optimizers::GradientAdjustmentOptions adjustment{};  ///< used when the loss has > 1 term
    double max_gradient_norm = optimizers::default_max_gradient_norm;  ///< > 0; +inf disables
    /// A training loss with |loss| above this counts as diverged (status `diverged`): an MLMC
    /// loss is unbounded below when the corrections run away (what Algorithm 1 of Hikida et al.
    /// 2025 counters), and a mean NLL of 1e8 nats is garbage in any units. +inf disables.
    double divergence_threshold = 1e8;
    /// Runaway (status `runaway`), see training/runaway.hpp: with a validation loss, it rose more
    /// than this above its best (nats per sample; +inf disables). Checked for multi-term (MLMC)
    /// losses, and for single-term ones without early stopping (which ends those runs anyway).
    double runaway_margin = default_runaway_margin;
    /// Runaway of a multi-term (MLMC) loss: two estimates of the same E[f_{l-1}] (level l's
    /// coarse samples and the level below) differ by more than this (nats; +inf disables).
    double runaway_gap = default_runaway_gap;
    std::uint64_t shuffle_seed = 0;  ///< seeds the per-epoch shuffles of mini-batch mode
    bool progress = true;            ///< print a progress line on stderr
    double progress_interval = 1.0;  ///< seconds between progress lines (>= 0)
    std::string label = "train";     ///< prefix of the progress line

    /// \throws std::invalid_argument naming the invalid field.
    void validate() const {
        require(max_epochs >= 1, "TrainingOptions: max_epochs must be >= 1, got ", max_epochs);
        require(batches_per_epoch >= 1, "TrainingOptions: batches_per_epoch must be >= 1, got ",
                batches_per_epoch);
        require(patience >= 1, "TrainingOptions: patience must be >= 1, got ", patience);
        require(min_improvement >= 0, "TrainingOptions: min_improvement must be >= 0, got ",
                min_improvement);
        require(max_gradient_norm > 0, "TrainingOptions: max_gradient_norm must be positive, got ",
                max_gradient_norm);
        require(progress_interval >= 0, "TrainingOptions: progress_interval must be >= 0");
        require(divergence_threshold > 0,
                "TrainingOptions: divergence_threshold must be positive, got ",
                divergence_threshold);
        require(runaway_margin > 0, "TrainingOptions: runaway_margin must be positive, got ",
                runaway_margin);
        require(runaway_gap > 0, "TrainingOptions: runaway_gap must be positive, got ",
                runaway_gap);
        adam.validate();
        adjustment.validate();
    }
};

/// Why training ended.
enum class TrainingStatus {
    completed,            ///< ran max_epochs
    early_stopped,        ///< no validation improvement for `patience` epochs
    non_finite_loss,      ///< a training or validation loss, or a gradient, was NaN or inf
    diverged,             ///< |training loss| exceeded divergence_threshold
    stopped_by_callback,  ///< the epoch callback returned false
    runaway,  ///< the loss left the range an honest model reaches (training/runaway.hpp); the
              ///< best validated (or last consistent) weights are restored
};

[[nodiscard]] inline const char* to_string(TrainingStatus status) {
    switch (status) {
        case TrainingStatus::completed:
            return "completed";
        case TrainingStatus::early_stopped:
            return "early_stopped";
        case TrainingStatus::non_finite_loss:
            return "non_finite_loss";
        case TrainingStatus::diverged:
            return "diverged";
        case TrainingStatus::stopped_by_callback:
            return "stopped_by_callback";
        case TrainingStatus::runaway:
            return "runaway";
    }
    return "unknown";
}

/// What `train` did. Epochs are counted from 1; `training_loss[e - 1]` belongs to epoch e.
struct TrainingSummary {
    TrainingStatus status = TrainingStatus::completed;
    std::string message;                  ///< one line: why it stopped and which weights it kept
    int epochs = 0;                       ///< epochs completed
    long steps = 0;                       ///< optimizer steps taken
    std::vector<double> training_loss;    ///< mean over the epoch's batches of the training loss
                                          ///< (full batch: the loss before the epoch's step)
    std::vector<double> validation_loss;  ///< after each epoch (empty without validation)
    int best_epoch = 0;                   ///< epoch of the best validation loss (0: none, or the
                                          ///< initial weights)
    double best_validation_loss = std::numeric_limits<double>::infinity();
    bool restored_best = false;  ///< the estimator ends with the best-validated (or, after a
                                 ///< non-finite loss, the last finite) weights
    long conflicts = 0;          ///< steps where <g_0, g_c> < 0
    long projections = 0;        ///< steps where the projection was applied
    long clipped = 0;            ///< steps where the gradient was clipped
    double seconds = 0;          ///< wall time
    int runaway_epoch = 0;       ///< epoch at which a runaway was detected (0: none)

    [[nodiscard]] bool ok() const {
        return status == TrainingStatus::completed || status == TrainingStatus::early_stopped;
    }
};

/// Per-step report for callbacks (references valid during the call only).
struct StepReport {
    int epoch = 0;                                     ///< 1-based
    Index batch = 0;                                   ///< 0-based within the epoch
    long step = 0;                                     ///< 1-based count of optimizer steps
    double loss = 0;                                   ///< the batch's total loss
    const std::vector<double>* term_values = nullptr;  ///< h_0, zeta_1^+, zeta_1^-, ...
    const optimizers::GradientAdjustmentDiagnostics* adjustment =
        nullptr;               ///< norms, cosine,
                               ///< conflict, projection
    double gradient_norm = 0;  ///< norm of the combined gradient before clipping
    bool clipped = false;
};

/// Per-epoch report for callbacks.
struct EpochReport {
    int epoch = 0;
    int max_epochs = 0;
    double training_loss = 0;
    double validation_loss = std::numeric_limits<double>::quiet_NaN();  ///< NaN without validation
    double best_validation_loss = std::numeric_limits<double>::infinity();
    double seconds = 0;  ///< elapsed since training started
};

/// Optional callbacks; `on_epoch` returning false stops training (status stopped_by_callback).
struct TrainingCallbacks {
    std::function<void(const StepReport&)> on_step;
    std::function<bool(const EpochReport&)> on_epoch;
};

/// What `train_with` trains: anything holding its parameters in one flat vector. Density
/// estimators (losses::TrainableEstimator) are models; so is the C2ST classifier
/// (diagnostics/detail/c2st_classifier.hpp), which trains through the same loop.
template <class M>
concept TrainableModel = RealScalar<typename M::Scalar> && requires(M& m) {
    { m.parameters() } -> std::same_as<Vector<typename M::Scalar>&>;
};

/// A loss `train` can minimise: losses::McLoss and losses::MlmcLoss satisfy it (as does any
/// loss with per-term gradients of the model's flat parameters).
template <class L, class Estimator>
concept TrainingLoss = requires(L& loss, const L& cl, const Estimator& cest,
                                MatrixRef<typename Estimator::Scalar> grads,
                                std::vector<double>& values, losses::BatchSlice slice,
                                std::uint64_t seed) {
    { cl.term_count() } -> std::convertible_to<Index>;
    { cl.max_batches() } -> std::convertible_to<Index>;
    { loss.evaluate(cest, grads, values, slice) } -> std::convertible_to<double>;
    {loss.shuffle(seed)};
};

/// A validation loss: anything with `value(estimator)` (McLoss, MlmcLoss, or a user functor
/// wrapped to that shape).
template <class V, class Estimator>
concept ValidationLoss = requires(V& v, const Estimator& est) {
    { v.value(est) } -> std::convertible_to<double>;
};

/// Placeholder validation type of the no-validation overload.
struct NoValidation {
    template <class Estimator>
    double value(const Estimator&) const {
        return 0;
    }
};

namespace detail {

inline std::string format_seconds(double s) {
    char buffer[32];
    if (s < 60)
        std::snprintf(buffer, sizeof buffer, "%.1fs", s);
    else if (s < 3600)
        std::snprintf(buffer, sizeof buffer, "%dm%02ds", int(s) / 60, int(s) % 60);
    else
        std::snprintf(buffer, sizeof buffer, "%dh%02dm", int(s) / 3600, (int(s) % 3600) / 60);
    return buffer;
}

inline void print_progress(const TrainingOptions& o, int epoch, double loss, double validation,
                           bool has_validation, double elapsed) {
    const double eta = elapsed / epoch * (o.max_epochs - epoch);
    if (has_validation)
        std::fprintf(stderr, "[%s] epoch %d/%d  loss %.5g  val %.5g  elapsed %s  ETA %s\n",
                     o.label.c_str(), epoch, o.max_epochs, loss, validation,
                     format_seconds(elapsed).c_str(), format_seconds(eta).c_str());
    else
        std::fprintf(stderr, "[%s] epoch %d/%d  loss %.5g  elapsed %s  ETA %s\n", o.label.c_str(),
                     epoch, o.max_epochs, loss, format_seconds(elapsed).c_str(),
                     format_seconds(eta).c_str());
}

}  // namespace detail

/// What a callback's end_epoch returns to stop training, with the status and message to report.
struct StopRequest {
    TrainingStatus status = TrainingStatus::stopped_by_callback;
    std::string message;
};

/// Everything later epochs depend on, after `epoch` completed epochs: a training restored from it
/// continues bit for bit (see Checkpoint). \tparam OptimizerState the optimizer's State.
template <typename Scalar, class OptimizerState>
struct TrainingState {
    int epoch = 0;
    Vector<Scalar> parameters;
    OptimizerState optimizer;
    Vector<Scalar> best_parameters;        ///< best validated (or initial) weights
    Vector<Scalar> best_train_parameters;  ///< lowest finite training loss (no validation)
    double best_train_loss = std::numeric_limits<double>::infinity();
    int epochs_without_improvement = 0;
    TrainingSummary summary;  ///< the history so far (losses, counters, best epoch)
};

namespace detail {

// Calls the hooks a callback has; the others are skipped at compile time.
template <class Callback, class State>
void begin_training(Callback& callback, State& state) {
    if constexpr (requires { callback.begin_training(state); }) callback.begin_training(state);
}

template <class Callback>
void end_step(Callback& callback, const StepReport& report) {
    if constexpr (requires { callback.end_step(report); }) callback.end_step(report);
}

// end_epoch may return void, bool (false stops) or std::optional<StopRequest>.
template <class Callback>
std::optional<StopRequest> end_epoch(Callback& callback, const EpochReport& report) {
    if constexpr (requires { callback.end_epoch(report); }) {
        using Result = decltype(callback.end_epoch(report));
        if constexpr (std::is_void_v<Result>) {
            callback.end_epoch(report);
        } else if constexpr (std::is_same_v<Result, bool>) {
            if (!callback.end_epoch(report))
                return StopRequest{TrainingStatus::stopped_by_callback,
                                   message("stopped by a callback after epoch ", report.epoch)};
        } else {
            return callback.end_epoch(report);
        }
    }
    return std::nullopt;
}

template <class Callback, class State>
void epoch_state(Callback& callback, const State& state) {
    if constexpr (requires { callback.epoch_state(state); }) callback.epoch_state(state);
}

template <class Callback>
void end_training(Callback& callback, const TrainingSummary& summary) {
    if constexpr (requires { callback.end_training(summary); }) callback.end_training(summary);
}

}  // namespace detail

/// Trains `estimator` by minimising `loss` with `optimizer`, optionally monitoring `validation`,
/// and calls the callbacks' hooks (the loop behind training::train). Each step: the loss returns
/// the per-term gradients (1 term for MC, 2L + 1 for MLMC); GradientAdjustment combines them
/// (Algorithm 1; a single term passes through); the result is clipped to `max_gradient_norm` and
/// the optimizer steps. One epoch is one full-batch step, or `batches_per_epoch` steps over
/// level-stratified mini-batches of a freshly shuffled loss. The final weights and statuses
/// follow the rule documented on train(). Four steps: prepare, run the epochs (steps,
/// bookkeeping, validation, hooks), choose the final weights, report. `options.adam` and
/// `options.progress` are not used here (the optimizer is given; progress is a callback, e.g.
/// ProgressBar).
///
/// Hooks, each optional (see training/callbacks.hpp for ready ones):
/// - `begin_training(TrainingState& state)`: may replace the state (Checkpoint resumes here);
/// - `end_step(const StepReport&)`;
/// - `end_epoch(const EpochReport&)` returning void, bool (false stops, status
///   stopped_by_callback) or std::optional<StopRequest> (a status of its choice);
/// - `epoch_state(const TrainingState&)` after each completed epoch (Checkpoint saves here);
/// - `end_training(const TrainingSummary&)`.
/// \tparam Optimizer an optimizers::Optimizer over the estimator's Scalar, constructed for its
///         parameter count.
/// \throws std::invalid_argument on bad options or shapes, before training starts.
template <class Estimator, class Loss, class Validation, class Optimizer, class... Callbacks>
requires TrainableModel<Estimator> && TrainingLoss<Loss, Estimator> &&
    ValidationLoss<Validation, Estimator> &&
    optimizers::Optimizer<Optimizer, typename Estimator::Scalar>
        TrainingSummary train_with(Estimator& estimator, Loss& loss, Validation* validation,
                                   const TrainingOptions& options, Optimizer& optimizer,
                                   Callbacks&&... callbacks) {
    using Scalar = typename Estimator::Scalar;
    using State = TrainingState<Scalar, typename Optimizer::State>;
    using Clock = std::chrono::steady_clock;

    // --- 1. Prepare: check, the initial state (or a resumed one). The estimator keeps the
    // z-scoring it arrives with (the recipes fit it from their data, see standardization.hpp).
    options.validate();
    const bool has_validation = validation != nullptr && !std::is_same_v<Validation, NoValidation>;
    require(!options.early_stopping || has_validation,
            "train_with: early_stopping needs a validation loss");
    require(options.batches_per_epoch <= loss.max_batches(), "train_with: batches_per_epoch (",
            options.batches_per_epoch, ") exceeds the smallest level size (", loss.max_batches(),
            ")");
    const auto start = Clock::now();
    Vector<Scalar>& params = estimator.parameters();
    const Index p = params.size();
    State state;
    state.parameters = params;
    state.optimizer = optimizer.state();
    state.best_parameters = params;
    state.best_train_parameters = params;
    (detail::begin_training(callbacks, state), ...);
    require(state.parameters.size() == p, "train_with: a callback restored ",
            state.parameters.size(), " parameters, the estimator has ", p);
    params = state.parameters;
    optimizer.restore(state.optimizer);
    TrainingSummary& summary = state.summary;
    summary.status = TrainingStatus::completed;
    summary.message.clear();
    const Index batches = options.batches_per_epoch;
    // Mini-batch orders compose epoch after epoch: replay the shuffles of the epochs done.
    if (batches > 1)
        for (int e = 1; e <= state.epoch; ++e)
            loss.shuffle(derive_seed(options.shuffle_seed, static_cast<std::uint64_t>(e)));

    optimizers::GradientAdjustment<Scalar> adjustment(options.adjustment);
    // Weighted terms (MlmcLoss's control-variate form): the rescale keeps the weights'
    // proportion, and the runaway check reads each term per unit weight.
    std::vector<double> term_weight;
    if constexpr (requires { loss.terms(); }) {
        for (const auto& term : loss.terms()) term_weight.push_back(std::abs(term.sign));
        std::vector<double> ratio;
        for (std::size_t l = 1; 2 * l < term_weight.size(); ++l)
            ratio.push_back(term_weight[2 * l - 1] > 0 ? term_weight[2 * l] / term_weight[2 * l - 1]
                                                       : 0.0);
        adjustment.set_rescale_ratios(std::move(ratio));
    }
    std::vector<double> unit_values;  // sized on the first step, reused after
    auto unit_term_values = [&](const std::vector<double>& values) -> const std::vector<double>& {
        if (term_weight.size() != values.size()) return values;
        unit_values.resize(values.size());
        for (std::size_t t = 0; t < values.size(); ++t)
            unit_values[t] = term_weight[t] > 0 ? values[t] / term_weight[t]
                                                : std::numeric_limits<double>::quiet_NaN();
        return unit_values;
    };
    Matrix<Scalar> term_gradients(p, loss.term_count());
    Vector<Scalar> gradient(p);
    Vector<Scalar> epoch_start = params;
    Vector<Scalar> consistent_params = params;  // weights of the last runaway-free evaluation
    std::vector<double> term_values;
    auto stop = [&](TrainingStatus status, std::string why) {
        summary.status = status;
        summary.message = std::move(why);
    };
    auto failed = [&] {
        return summary.status == TrainingStatus::non_finite_loss ||
               summary.status == TrainingStatus::diverged ||
               summary.status == TrainingStatus::runaway;
    };
    auto stop_runaway = [&](int epoch, const std::string& why) {
        summary.runaway_epoch = epoch;
        stop(TrainingStatus::runaway, message("runaway at epoch ", epoch, ": ", why));
    };

    // --- 2. Epochs.
    for (int epoch = state.epoch + 1; epoch <= options.max_epochs; ++epoch) {
        if (batches > 1)
            loss.shuffle(derive_seed(options.shuffle_seed, static_cast<std::uint64_t>(epoch)));
        if (batches == 1) epoch_start = params;
        double epoch_loss = 0;
        // 2a. The epoch's optimizer steps.
        for (Index b = 0; b < batches; ++b) {
            const double batch_loss = loss.evaluate(estimator, term_gradients, term_values,
                                                    losses::BatchSlice{b, batches});
            if (!std::isfinite(batch_loss)) {
                stop(TrainingStatus::non_finite_loss,
                     message("training loss is ", batch_loss, " at epoch ", epoch, ", batch ", b));
                break;
            }
            if (std::abs(batch_loss) > options.divergence_threshold) {
                stop(TrainingStatus::diverged,
                     message("training loss ", batch_loss, " at epoch ", epoch, ", batch ", b,
                             " exceeds the divergence threshold ", options.divergence_threshold));
                break;
            }
            if (const auto why = mlmc_runaway(unit_term_values(term_values), options.runaway_gap)) {
                stop_runaway(epoch, *why);
                break;
            }
            consistent_params = params;
            epoch_loss += batch_loss / double(batches);
            const auto& diag = adjustment.adjust(term_gradients, gradient);
            const double norm =
                optimizers::clip_by_global_norm<Scalar>(gradient, options.max_gradient_norm);
            if (!std::isfinite(norm) || !gradient.allFinite()) {
                stop(TrainingStatus::non_finite_loss,
                     message("gradient norm is ", norm, " at epoch ", epoch, ", batch ", b));
                break;
            }
            optimizer.step(params, gradient);
            ++summary.steps;
            summary.conflicts += diag.conflict ? 1 : 0;
            summary.projections += diag.projected ? 1 : 0;
            const bool clipped = norm > options.max_gradient_norm;
            summary.clipped += clipped ? 1 : 0;
            [[maybe_unused]] const StepReport report{epoch,        b,     summary.steps, batch_loss,
                                                     &term_values, &diag, norm,          clipped};
            (detail::end_step(callbacks, report), ...);
        }
        if (failed()) break;
        // 2b. Bookkeeping of the training loss.
        summary.training_loss.push_back(epoch_loss);
        summary.epochs = epoch;
        if (epoch_loss < state.best_train_loss) {
            state.best_train_loss = epoch_loss;
            state.best_train_parameters = batches == 1 ? epoch_start : params;
        }
        // 2c. Validation.
        double validation_value = std::numeric_limits<double>::quiet_NaN();
        if (has_validation) {
            validation_value = validation->value(estimator);
            summary.validation_loss.push_back(validation_value);
            if (!std::isfinite(validation_value)) {
                stop(TrainingStatus::non_finite_loss,
                     message("validation loss is ", validation_value, " at epoch ", epoch));
                break;
            }
            // Single-term (MC) runs with early stopping already end on a worsening criterion
            // (`early_stopped`, best weights); the margin guards MLMC runs and fixed-epoch runs.
            const bool guard_margin = loss.term_count() > 1 || !options.early_stopping;
            if (const auto why = guard_margin ? validation_runaway(validation_value,
                                                                   summary.best_validation_loss,
                                                                   options.runaway_margin)
                                              : std::nullopt) {
                stop_runaway(epoch, *why);
                break;
            }
            if (validation_value < summary.best_validation_loss - options.min_improvement) {
                summary.best_validation_loss = validation_value;
                summary.best_epoch = epoch;
                state.best_parameters = params;
                state.epochs_without_improvement = 0;
            } else {
                ++state.epochs_without_improvement;
            }
        }
        // 2d. The state of the completed epoch, then the hooks that may stop.
        state.epoch = epoch;
        state.parameters = params;
        state.optimizer = optimizer.state();
        (detail::epoch_state(callbacks, state), ...);
        [[maybe_unused]] const EpochReport report{
            epoch,
            options.max_epochs,
            epoch_loss,
            validation_value,
            summary.best_validation_loss,
            std::chrono::duration<double>(Clock::now() - start).count()};
        std::optional<StopRequest> request;
        ((request = request ? request : detail::end_epoch(callbacks, report)), ...);
        if (request) {
            stop(request->status, request->message);
            break;
        }
        if (options.early_stopping && state.epochs_without_improvement >= options.patience) {
            stop(TrainingStatus::early_stopped,
                 message("no validation improvement for ", options.patience, " epochs; best epoch ",
                         summary.best_epoch));
            break;
        }
    }

    // --- 3. The final weights (the rule of training::train).
    if (has_validation && (options.restore_best || failed())) {
        params = state.best_parameters;
        summary.restored_best = true;
    } else if (summary.status == TrainingStatus::runaway) {
        params = consistent_params;  // full batch: the last weights that passed the check
        summary.restored_best = true;
    } else if (failed()) {
        params = std::isfinite(state.best_train_loss) ? state.best_train_parameters
                                                      : state.best_parameters;
        summary.restored_best = true;
    }

    // --- 4. Report.
    if (summary.message.empty()) summary.message = message("completed ", summary.epochs, " epochs");
    if (summary.restored_best && !has_validation && summary.status == TrainingStatus::runaway)
        summary.message += "; restored the last weights that passed the runaway check";
    else if (summary.restored_best)
        summary.message += has_validation
                               ? message("; restored the weights of epoch ", summary.best_epoch,
                                         " (validation loss ", summary.best_validation_loss, ")")
                               : message("; restored the weights with the lowest training loss (",
                                         state.best_train_loss, ")");
    summary.seconds += std::chrono::duration<double>(Clock::now() - start).count();
    (detail::end_training(callbacks, summary), ...);
    return summary;
}

/// train_with without a validation loss.
template <class Estimator, class Loss, class Optimizer, class... Callbacks>
requires TrainableModel<Estimator> && TrainingLoss<Loss, Estimator> &&
    optimizers::Optimizer<Optimizer, typename Estimator::Scalar>
        TrainingSummary train_with(Estimator& estimator, Loss& loss, const TrainingOptions& options,
                                   Optimizer& optimizer, Callbacks&&... callbacks) {
    return train_with(estimator, loss, static_cast<NoValidation*>(nullptr), options, optimizer,
                      callbacks...);
}

namespace detail {

// The std::function callbacks and the progress lines of train(), as a train_with policy.
struct LegacyCallbacks {
    const TrainingCallbacks& callbacks;
    const TrainingOptions& options;
    bool has_validation = false;
    double last_print = -std::numeric_limits<double>::infinity();

    void end_step(const StepReport& report) const {
        if (callbacks.on_step) callbacks.on_step(report);
    }
    std::optional<StopRequest> end_epoch(const EpochReport& r) {
        if (options.progress && (r.seconds - last_print >= options.progress_interval ||
                                 r.epoch == options.max_epochs)) {
            print_progress(options, r.epoch, r.training_loss, r.validation_loss, has_validation,
                           r.seconds);
            last_print = r.seconds;
        }
        if (callbacks.on_epoch && !callbacks.on_epoch(r))
            return StopRequest{TrainingStatus::stopped_by_callback,
                               message("stopped by the epoch callback after epoch ", r.epoch)};
        return std::nullopt;
    }
    void end_training(const TrainingSummary& summary) const {
        if (options.progress)
            std::fprintf(stderr, "[%s] %s: %s (%s)\n", options.label.c_str(),
                         to_string(summary.status), summary.message.c_str(),
                         format_seconds(summary.seconds).c_str());
    }
};

}  // namespace detail

/// Trains `estimator` by minimising `loss` with Adam (`options.adam`), optionally monitoring
/// `validation`: train_with with an Adam and the two std::function callbacks, printing progress
/// lines when `options.progress`.
///
/// Each step: the loss returns the per-term gradients (1 term for MC, 2L + 1 for MLMC);
/// GradientAdjustment combines them (Algorithm 1; a single term passes through); the result is
/// clipped to `max_gradient_norm` and Adam steps. One epoch is one full-batch step, or
/// `batches_per_epoch` steps over level-stratified mini-batches of a freshly shuffled loss.
///
/// After every epoch the validation loss (if any) is evaluated; the best weights are kept in a
/// copy. Training ends at max_epochs, by early stopping, by the callback, or at the first
/// non-finite loss or gradient, or when |loss| exceeds divergence_threshold. Final weights:
/// - with a validation loss and restore_best: the best-validated weights (including when a
///   non-finite loss stopped training; the initial weights if no epoch validated finitely);
/// - without one: the last weights, except after a non-finite or diverged loss, when the
///   weights with the lowest training loss are restored (full batch: exactly the weights that
///   loss was evaluated at; mini-batch: the weights at the end of that epoch). Caveat: an
///   MLMC loss diverges towards -inf, so its lowest training loss belongs to already damaged
///   weights; give MLMC runs a validation loss when the best weights matter.
/// The estimator's z-scoring is not touched: fit it first (training::fit_standardization, or
/// the estimator's own fit_standardization); the recipes (train_mc, train_mlmc, ...) do.
/// Bad options or shapes throw std::invalid_argument before training starts; problems during
/// training are reported in the summary's status, never thrown.
/// \tparam Estimator a losses::TrainableEstimator.
template <class Estimator, class Loss, class Validation>
requires losses::TrainableEstimator<Estimator> && TrainingLoss<Loss, Estimator> &&
    ValidationLoss<Validation, Estimator>
        TrainingSummary train(Estimator& estimator, Loss& loss, Validation* validation,
                              const TrainingOptions& options,
                              const TrainingCallbacks& callbacks = {}) {
    options.validate();
    optimizers::Adam<typename Estimator::Scalar> adam(estimator.parameter_count(), options.adam);
    detail::LegacyCallbacks legacy{
        callbacks, options, validation != nullptr && !std::is_same_v<Validation, NoValidation>};
    return train_with(estimator, loss, validation, options, adam, legacy);
}

/// Training without a validation loss (fixed epochs; the paper's ML mode).
template <class Estimator, class Loss>
requires losses::TrainableEstimator<Estimator> && TrainingLoss<Loss, Estimator> TrainingSummary
train(Estimator& estimator, Loss& loss, const TrainingOptions& options,
      const TrainingCallbacks& callbacks = {}) {
    return train(estimator, loss, static_cast<NoValidation*>(nullptr), options, callbacks);
}

}  // namespace mlsbi::training
