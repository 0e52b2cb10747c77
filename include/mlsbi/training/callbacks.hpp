// SPDX-License-Identifier: MIT
/// \file
/// \brief Ready callbacks for training::train_with: a progress bar with ETA (quiet off a
/// terminal), the loss history, early stopping, and checkpoints every k epochs from which an
/// interrupted training resumes bit for bit.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#if __has_include(<unistd.h>)
#include <unistd.h>
#endif

#include "mlsbi/core/errors.hpp"
#include "mlsbi/optimizers/detail/state_io.hpp"
#include "mlsbi/training/trainer.hpp"

namespace mlsbi::training {

/// Options of ProgressBar.
struct ProgressBarOptions {
    std::string label = "train";
    double interval = 0.2;  ///< seconds between redraws
    bool quiet = false;     ///< never draw
    bool force = false;     ///< draw even when stderr is not a terminal
};

/// A one-line progress bar with loss and ETA on stderr, redrawn at most every `interval`
/// seconds. Quiet when stderr is not a terminal (logs, CI) unless `force`, or when `quiet`.
class ProgressBar {
public:
    explicit ProgressBar(ProgressBarOptions options = {}) : m_options(std::move(options)) {}

    [[nodiscard]] bool active() const {
        if (m_options.quiet) return false;
        if (m_options.force) return true;
#if __has_include(<unistd.h>)
        return isatty(fileno(stderr)) != 0;
#else
        return false;
#endif
    }

    void end_epoch(const EpochReport& r) {
        if (!active() || (r.seconds - m_last < m_options.interval && r.epoch != r.max_epochs))
            return;
        m_last = r.seconds;
        constexpr int width = 30;
        const int filled = r.max_epochs > 0 ? width * r.epoch / r.max_epochs : width;
        std::string bar(static_cast<std::size_t>(filled), '#');
        bar.resize(width, '.');
        const double eta = r.epoch > 0 ? r.seconds / r.epoch * (r.max_epochs - r.epoch) : 0.0;
        std::fprintf(
            stderr, "\r[%s] [%s] %d/%d  loss %.5g%s  ETA %.0fs ", m_options.label.c_str(),
            bar.c_str(), r.epoch, r.max_epochs, r.training_loss,
            std::isnan(r.validation_loss) ? "" : message("  val ", r.validation_loss).c_str(), eta);
        m_drawn = true;
    }

    void end_training(const TrainingSummary& summary) {
        if (!active()) return;
        if (m_drawn) std::fputc('\n', stderr);
        std::fprintf(stderr, "[%s] %s: %s\n", m_options.label.c_str(), to_string(summary.status),
                     summary.message.c_str());
    }

private:
    ProgressBarOptions m_options;
    double m_last = -std::numeric_limits<double>::infinity();
    bool m_drawn = false;
};

/// Records the training and validation loss of every epoch and the loss of every step.
struct LossHistory {
    std::vector<double> training;    ///< per epoch
    std::vector<double> validation;  ///< per epoch (NaN without validation)
    std::vector<double> steps;       ///< per optimizer step (the batch's loss)

    void end_step(const StepReport& r) { steps.push_back(r.loss); }
    void end_epoch(const EpochReport& r) {
        training.push_back(r.training_loss);
        validation.push_back(r.validation_loss);
    }
};

/// Options of EarlyStopping.
struct EarlyStoppingOptions {
    int patience = 20;           ///< >= 1
    double min_improvement = 0;  ///< >= 0
};

/// Stops when the validation loss has not improved by more than `min_improvement` for
/// `patience` epochs (status early_stopped). Without a validation loss it never stops.
class EarlyStopping {
public:
    /// \throws std::invalid_argument on patience < 1 or min_improvement < 0.
    explicit EarlyStopping(EarlyStoppingOptions options = {}) : m_options(options) {
        require(options.patience >= 1, "EarlyStopping: patience must be >= 1, got ",
                options.patience);
        require(options.min_improvement >= 0, "EarlyStopping: min_improvement must be >= 0");
    }

    std::optional<StopRequest> end_epoch(const EpochReport& r) {
        const int patience = m_options.patience;
        if (std::isnan(r.validation_loss)) return std::nullopt;
        if (r.validation_loss < m_best - m_options.min_improvement) {
            m_best = r.validation_loss;
            m_best_epoch = r.epoch;
            m_without = 0;
            return std::nullopt;
        }
        if (++m_without < patience) return std::nullopt;
        return StopRequest{TrainingStatus::early_stopped,
                           message("no validation improvement for ", patience,
                                   " epochs; best epoch ", m_best_epoch)};
    }

private:
    EarlyStoppingOptions m_options;
    double m_best = std::numeric_limits<double>::infinity();
    int m_best_epoch = 0;
    int m_without = 0;
};

/// Options of Checkpoint.
struct CheckpointOptions {
    std::filesystem::path path;  ///< the checkpoint file (required)
    int every = 10;              ///< epochs between saves, >= 1
    bool resume = true;          ///< start from the file when it exists
};

/// Saves the whole training state (weights, optimizer state, best weights, counters, history)
/// to `path` every `every` epochs, and, with `resume`, starts from the state saved there if the
/// file exists: a run interrupted after a checkpoint and started again with the same options,
/// data and callbacks ends exactly where the uninterrupted run ends. The file is binary, for the
/// same build (raw scalars), written to path + ".tmp" and renamed, so a crash mid-write leaves
/// the previous checkpoint intact.
class Checkpoint {
public:
    /// \throws std::invalid_argument on an empty path or every < 1.
    explicit Checkpoint(CheckpointOptions options) : m_options(std::move(options)) {
        require(!m_options.path.empty(), "Checkpoint: path is empty");
        require(m_options.every >= 1, "Checkpoint: every must be >= 1, got ", m_options.every);
    }

    template <class State>
    void begin_training(State& state) {
        const std::filesystem::path& path = m_options.path;
        if (!m_options.resume || !std::filesystem::exists(path)) return;
        std::ifstream in(path, std::ios::binary);
        require(static_cast<bool>(in), "Checkpoint: cannot open ", path.string());
        read(in, state);
        m_resumed_epoch = state.epoch;
    }

    template <class State>
    void epoch_state(const State& state) {
        const std::filesystem::path& path = m_options.path;
        if (state.epoch % m_options.every != 0) return;
        const std::filesystem::path tmp = path.string() + ".tmp";
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            require(static_cast<bool>(out), "Checkpoint: cannot write ", tmp.string());
            write(out, state);
            require(static_cast<bool>(out), "Checkpoint: writing ", tmp.string(), " failed");
        }
        std::filesystem::rename(tmp, path);
        ++m_saved;
    }

    /// Checkpoints written by this run.
    [[nodiscard]] int saved() const { return m_saved; }
    /// The epoch the run resumed from (0: it started fresh).
    [[nodiscard]] int resumed_epoch() const { return m_resumed_epoch; }

private:
    static constexpr char magic[] = "mlsbi-checkpoint 1\n";

    template <class State>
    static void write(std::ostream& out, const State& s) {
        using Scalar = typename decltype(s.parameters)::Scalar;
        namespace io = optimizers::detail;
        out.write(magic, sizeof magic - 1);
        io::write_value<std::int32_t>(out, static_cast<std::int32_t>(sizeof(Scalar)));
        io::write_value(out, s.epoch);
        io::write_vector<Scalar>(out, s.parameters);
        s.optimizer.write(out);
        io::write_vector<Scalar>(out, s.best_parameters);
        io::write_vector<Scalar>(out, s.best_train_parameters);
        io::write_value(out, s.best_train_loss);
        io::write_value(out, s.epochs_without_improvement);
        const TrainingSummary& h = s.summary;
        io::write_value(out, h.epochs);
        io::write_value(out, h.steps);
        io::write_value(out, h.conflicts);
        io::write_value(out, h.projections);
        io::write_value(out, h.clipped);
        io::write_value(out, h.best_epoch);
        io::write_value(out, h.best_validation_loss);
        io::write_value(out, h.seconds);
        io::write_vector<double>(
            out, Eigen::Map<const Vector<double>>(h.training_loss.data(),
                                                  static_cast<Index>(h.training_loss.size())));
        io::write_vector<double>(
            out, Eigen::Map<const Vector<double>>(h.validation_loss.data(),
                                                  static_cast<Index>(h.validation_loss.size())));
    }

    template <class State>
    static void read(std::istream& in, State& s) {
        using Scalar = typename decltype(s.parameters)::Scalar;
        namespace io = optimizers::detail;
        std::string head(sizeof magic - 1, '\0');
        in.read(head.data(), static_cast<std::streamsize>(head.size()));
        require(static_cast<bool>(in) && head == magic,
                "Checkpoint: not an mlsbi checkpoint (bad header)");
        const auto scalar = io::read_value<std::int32_t>(in, "the scalar size");
        require(scalar == static_cast<std::int32_t>(sizeof(Scalar)), "Checkpoint: saved with ",
                scalar, "-byte scalars, the estimator has ", sizeof(Scalar));
        s.epoch = io::read_value<int>(in, "the epoch");
        s.parameters = io::read_vector<Scalar>(in, "the parameters");
        s.optimizer.read(in);
        s.best_parameters = io::read_vector<Scalar>(in, "the best parameters");
        s.best_train_parameters = io::read_vector<Scalar>(in, "the best training parameters");
        s.best_train_loss = io::read_value<double>(in, "the best training loss");
        s.epochs_without_improvement = io::read_value<int>(in, "the patience counter");
        TrainingSummary& h = s.summary;
        h.epochs = io::read_value<int>(in, "the epoch count");
        h.steps = io::read_value<long>(in, "the step count");
        h.conflicts = io::read_value<long>(in, "the conflict count");
        h.projections = io::read_value<long>(in, "the projection count");
        h.clipped = io::read_value<long>(in, "the clipping count");
        h.best_epoch = io::read_value<int>(in, "the best epoch");
        h.best_validation_loss = io::read_value<double>(in, "the best validation loss");
        h.seconds = io::read_value<double>(in, "the elapsed time");
        const Vector<double> training = io::read_vector<double>(in, "the training losses");
        const Vector<double> validation = io::read_vector<double>(in, "the validation losses");
        h.training_loss.assign(training.data(), training.data() + training.size());
        h.validation_loss.assign(validation.data(), validation.data() + validation.size());
    }

    CheckpointOptions m_options;
    int m_saved = 0;
    int m_resumed_epoch = 0;
};

}  // namespace mlsbi::training
