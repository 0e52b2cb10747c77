// SPDX-License-Identifier: MIT
/// \file
/// \brief Seed-matched multilevel datasets: generation in parallel from one master seed, or from
/// user arrays.
///
/// Layout (Hikida et al. 2025, Sec. 3): level 0 holds n_0 pairs
/// (theta, x = G_0(theta, seed)); level l >= 1 holds n_l triples (theta, x_coarse =
/// G_{l-1}(theta, seed), x_fine = G_l(theta, seed)) on the same theta and seed. Batches are
/// d x n, one sample per column.
///
/// Seeds: sample i of level l draws theta from RandomStream(derive_seed(master, l, i,
/// theta_tag)) and simulates with seed derive_seed(master, l, i, simulator_tag). Every column is
/// therefore a pure function of (master, l, i): the data are bit-identical for any thread count,
/// and growing n_l only appends columns.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "mlsbi/core/errors.hpp"
#include "mlsbi/core/parallel_for.hpp"
#include "mlsbi/core/types.hpp"
#include "mlsbi/distributions/prior.hpp"
#include "mlsbi/rng/random_stream.hpp"
#include "mlsbi/simulators/level_simulator.hpp"
#include "mlsbi/simulators/multilevel_simulator.hpp"

namespace mlsbi::simulators {

/// One level's data, all double, one sample per column.
struct LevelData {
    Matrix<double> theta;     ///< p x n_l
    Matrix<double> x_fine;    ///< output of G_l, d x n_l
    Matrix<double> x_coarse;  ///< G_{l-1} on the same (theta, seed), d x n_l; 0 x 0 for level 0
    std::vector<std::uint64_t> seeds;  ///< per-sample simulator seed (empty when built from arrays)
    /// n_l.
    [[nodiscard]] Index size() const { return theta.cols(); }
};

/// Single-level simulations (theta_i, x_i = G(theta_i, seed_i)), all double, one sample per
/// column: what generate_dataset returns for the plain (MC) baseline and for test sets.
struct Simulations {
    Matrix<double> theta;              ///< p x n
    Matrix<double> x;                  ///< the simulator's output, d x n
    std::vector<std::uint64_t> seeds;  ///< per-sample simulator seed
    /// n.
    [[nodiscard]] Index size() const { return theta.cols(); }
};

/// The columns `index` (in that order) of a level of any type with theta, x_fine and x_coarse
/// (and seeds, when it has them), as LevelData: every array the level holds comes along, so
/// seed-matched pairs stay whole and no seed is lost.
template <class Level>
[[nodiscard]] LevelData select_columns(const Level& level, const std::vector<Index>& index) {
    LevelData out;
    out.theta = level.theta(Eigen::all, index);
    out.x_fine = level.x_fine(Eigen::all, index);
    if (level.x_coarse.size() > 0) out.x_coarse = level.x_coarse(Eigen::all, index);
    if constexpr (requires { level.seeds.size(); }) {
        if (!level.seeds.empty()) {
            out.seeds.reserve(index.size());
            for (Index i : index) out.seeds.push_back(level.seeds[static_cast<std::size_t>(i)]);
        }
    }
    return out;
}

/// What generation did at one level. Times are wall-clock seconds of the level's (parallel) loop,
/// prior draws included; with T threads the CPU cost per simulation is about T times
/// seconds_per_simulation. For l >= 1 a sample runs G_l and G_{l-1}, so seconds / kept-pairs
/// measures c_l = C_l + C_{l-1} of the MLMC cost model.
struct LevelReport {
    Index requested = 0;                ///< n_l asked for
    Index kept = 0;                     ///< samples in the dataset
    Index dropped = 0;                  ///< seed-matched samples dropped as non-finite
    Index simulations = 0;              ///< simulator calls (n_l at level 0, 2 n_l above; none
                                        ///< for a non-finite theta)
    double seconds = 0;                 ///< wall time of the level
    double seconds_per_simulation = 0;  ///< seconds / simulations (0 when none ran)
    int threads = 0;                    ///< OpenMP threads that ran the level's loop
};

/// Levels 0..L of seed-matched data and what generation did at each.
struct MultilevelDataset {
    std::vector<LevelData> levels;     ///< levels[l], l = 0..L
    std::vector<LevelReport> reports;  ///< reports[l]; empty reports for data built from arrays
    /// L + 1.
    [[nodiscard]] std::size_t level_count() const { return levels.size(); }
};

/// What to do with a sample whose theta (from the prior) or simulation output has a NaN or an
/// infinity. A non-finite theta is never passed to the simulator.
enum class NonFinitePolicy {
    error,  ///< throw SimulationError naming the level and sample index (default)
    drop,   ///< drop the whole seed-matched sample (both levels) and count it in the report
};

/// Default bound on the memory a generated dataset may take (16 GiB): a larger request is almost
/// always a typo in a sample count, refused before any allocation or simulation.
inline constexpr std::int64_t default_max_dataset_bytes = std::int64_t(1) << 34;

/// Thrown when a simulator throws or, under NonFinitePolicy::error, returns a non-finite value.
class SimulationError : public std::runtime_error {
public:
    SimulationError(const std::string& what, std::size_t level, Index index)
        : std::runtime_error(what), m_level(level), m_index(index) {}
    /// Dataset level of the failing sample.
    [[nodiscard]] std::size_t level() const { return m_level; }
    /// Sample index within the level.
    [[nodiscard]] Index index() const { return m_index; }

private:
    std::size_t m_level;
    Index m_index;
};

/// Options of generate_multilevel_dataset.
struct GenerationOptions {
    std::vector<Index> samples_per_level;  ///< n_0, ..., n_L, each >= 1 (no default)
    std::uint64_t seed = 0;                ///< master seed
    NonFinitePolicy non_finite = NonFinitePolicy::error;
    int threads =
        0;  ///< OpenMP threads; 0 = OpenMP default (OMP_NUM_THREADS / omp_set_num_threads)
    /// Most bytes the whole dataset (theta, x_fine, x_coarse, seeds of every level) may take,
    /// >= 1; checked against the prior's and simulator's dimensions before anything runs.
    std::int64_t max_bytes = default_max_dataset_bytes;

    /// \throws std::invalid_argument naming the field: no levels, an empty level, threads < 0,
    ///         max_bytes < 1.
    void validate() const {
        require(!samples_per_level.empty(),
                "GenerationOptions: samples_per_level is empty (need n_0, ..., n_L)");
        for (std::size_t l = 0; l < samples_per_level.size(); ++l)
            require(samples_per_level[l] >= 1, "GenerationOptions: samples_per_level[", l, "] is ",
                    samples_per_level[l], ": level ", l, " is empty (need >= 1 sample)");
        require(threads >= 0, "GenerationOptions: threads must be >= 0, got ", threads);
        require(max_bytes >= 1, "GenerationOptions: max_bytes must be >= 1, got ", max_bytes);
    }
};

/// Options of generate_dataset (single level).
struct DatasetOptions {
    NonFinitePolicy non_finite = NonFinitePolicy::error;
    int threads = 0;  ///< OpenMP threads; 0 = OpenMP default
    /// Most bytes the dataset (theta, x, seeds) may take, >= 1 (see GenerationOptions).
    std::int64_t max_bytes = default_max_dataset_bytes;
    /// \throws std::invalid_argument if threads < 0 or max_bytes < 1.
    void validate() const {
        require(threads >= 0, "DatasetOptions: threads must be >= 0, got ", threads);
        require(max_bytes >= 1, "DatasetOptions: max_bytes must be >= 1, got ", max_bytes);
    }
};

/// Tag of the theta stream in derive_seed(master, level, index, tag).
inline constexpr std::uint64_t theta_tag = 1;
/// Tag of the simulator seed in derive_seed(master, level, index, tag).
inline constexpr std::uint64_t simulator_tag = 2;
/// The "level" generate_dataset derives its seeds with, so a single-level dataset never repeats
/// a multilevel dataset's (theta, seed) for the same master seed.
inline constexpr std::uint64_t single_level_stream = 0xFFFFFFFFULL;

namespace detail {

// Bytes level `level` of n samples needs: theta (p rows), x_fine and, above level 0, x_coarse
// (d rows each) in double, its seeds and generation's per-sample flag. In long double so that
// absurd n cannot overflow; also refuses sizes Eigen's Index cannot hold.
inline long double level_bytes(const char* caller, std::size_t level, Index n, Index p, Index d,
                               bool with_coarse) {
    const Index rows = std::max({p, d, Index(1)});
    require(n <= std::numeric_limits<Index>::max() / rows, caller, ": level ", level, " asks for ",
            n, " samples of ", rows, " rows: more entries than an Eigen matrix can index");
    const long double per_sample =
        static_cast<long double>(sizeof(double)) *
            static_cast<long double>(p + (with_coarse ? 2 : 1) * d) +
        static_cast<long double>(sizeof(std::uint64_t) + 1);
    return per_sample * static_cast<long double>(n);
}

// Refuses a dataset larger than max_bytes, naming the level that crosses the bound.
inline void check_dataset_size(const char* caller, const std::vector<Index>& sizes, Index p,
                               Index d, std::int64_t max_bytes) {
    long double total = 0;
    for (std::size_t l = 0; l < sizes.size(); ++l) {
        const long double bytes = level_bytes(caller, l, sizes[l], p, d, l >= 1);
        total += bytes;
        require(total <= static_cast<long double>(max_bytes), caller, ": level ", l, " (",
                sizes[l], " samples, ", static_cast<double>(bytes), " bytes) takes the dataset to ",
                static_cast<double>(total), " bytes, above max_bytes = ", max_bytes,
                " (a typo in samples_per_level? raise max_bytes if you mean it)");
    }
}

// Raw simulations of samples [first, first + n) of one level, before the non-finite policy: every
// column as simulated, its non-finite flags, and the lowest sample whose simulator threw. Dataset
// generation, campaign shards and distributed generation all fill these, so they agree bit for bit.
// Per-column flags of LevelBlock::bad.
inline constexpr unsigned char fine_flag = 1, coarse_flag = 2, theta_flag = 4;

struct LevelBlock {
    Index first = 0;                  // level index of column 0
    Matrix<double> theta;             // p x n
    Matrix<double> x_fine;            // d x n
    Matrix<double> x_coarse;          // d x n, or 0 x 0 without a coarse level
    std::vector<std::uint64_t> seeds;
    std::vector<unsigned char> bad;   // per column: fine_flag | coarse_flag | theta_flag
    Index failed_index = -1;          // level index of the lowest sample that threw; -1 if none
    std::string failed_what;          // what it threw, "<stage> threw: <what>"
    int threads = 1;                  // OpenMP threads that ran the loop
    [[nodiscard]] Index size() const { return theta.cols(); }
};

// Simulates samples [first, first + n) of a level into `block` (resized, allocation reused) in
// parallel. `fine(theta, seed, x)` always runs; `coarse` runs when `with_coarse`. Every column
// depends only on (master, stream_level, level index).
template <distributions::Prior P, class Fine, class Coarse>
void simulate_block(std::uint64_t stream_level, Index first, Index n, Index d, bool with_coarse,
                    std::uint64_t master, const P& prior, int threads, const Fine& fine,
                    const Coarse& coarse, LevelBlock& block) {
    const Index p = prior.dim();
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    block.first = first;
    block.theta.resize(p, n);
    block.x_fine.setConstant(d, n, nan);  // a simulator that forgets an entry shows up as non-finite
    if (with_coarse)
        block.x_coarse.setConstant(d, n, nan);
    else
        block.x_coarse.resize(0, 0);
    block.seeds.assign(static_cast<std::size_t>(n), 0);
    block.bad.assign(static_cast<std::size_t>(n), 0);
    // Read before parallel_for's SerialEigen lowers the calling thread's default. The simulators
    // run with OpenMP's thread count at 1, so their Eigen products (and nested parallel regions)
    // stay serial inside our loop.
    const int thread_count = outer_thread_count(threads);
    const ParallelForReport report =
        try_parallel_for(n, thread_count, Schedule::dynamic, [&](Index i) {
            const auto index = static_cast<std::uint64_t>(first + i);
            const char* stage = "the prior";
            try {
                RandomStream theta_rng(derive_seed(master, stream_level, index, theta_tag));
                prior.sample(theta_rng, block.theta.col(i));
                const std::uint64_t seed = derive_seed(master, stream_level, index, simulator_tag);
                block.seeds[static_cast<std::size_t>(i)] = seed;
                if (!block.theta.col(i).allFinite()) {  // never simulate at a NaN theta
                    block.bad[static_cast<std::size_t>(i)] = theta_flag;
                    return;
                }
                stage = "the fine simulator";
                fine(block.theta.col(i), seed, block.x_fine.col(i));
                unsigned char flags = block.x_fine.col(i).allFinite() ? 0 : fine_flag;
                if (with_coarse) {
                    stage = "the coarse simulator";
                    coarse(block.theta.col(i), seed, block.x_coarse.col(i));
                    if (!block.x_coarse.col(i).allFinite()) flags |= coarse_flag;
                }
                block.bad[static_cast<std::size_t>(i)] = flags;
            } catch (const std::exception& e) {  // name the stage that threw
                throw std::runtime_error(message(stage, " threw: ", e.what()));
            } catch (...) {
                throw std::runtime_error(message(stage, " threw an unknown exception"));
            }
        });
    block.threads = report.threads;
    block.failed_index = report.failed_index >= 0 ? first + report.failed_index : -1;
    block.failed_what.clear();
    if (report.error) {
        try {
            std::rethrow_exception(report.error);
        } catch (const std::exception& e) {
            block.failed_what = e.what();
        }
    }
}

// Applies the non-finite policy to a level's raw block and moves its data into a LevelData.
// Fills report.requested/kept/dropped/simulations/threads (not the times).
// \throws SimulationError for a sample that threw, or (policy error) the lowest non-finite one.
inline LevelData finish_level(const char* caller, std::size_t level, NonFinitePolicy policy,
                              LevelBlock& block, LevelReport& report) {
    const Index n = block.size();
    const Index d = block.x_fine.rows();
    const bool with_coarse = block.x_coarse.size() > 0;
    if (block.failed_index >= 0)
        throw SimulationError(message(caller, ": level ", level, ", sample ", block.failed_index,
                                      ": ", block.failed_what),
                              level, block.failed_index);
    Index dropped = 0;
    Index unsimulated = 0;  // samples skipped for a non-finite theta
    for (Index i = 0; i < n; ++i) {
        const unsigned char flags = block.bad[static_cast<std::size_t>(i)];
        if (flags == 0) continue;
        if (flags == theta_flag) {
            ++unsimulated;
            if (policy == NonFinitePolicy::error) {
                const Index p = block.theta.rows();
                Index row = 0;
                while (row < p && std::isfinite(block.theta(row, i))) ++row;
                throw SimulationError(
                    message(caller, ": level ", level, ", sample ", block.first + i,
                            ": the prior drew a non-finite theta (", block.theta(row, i),
                            " at row ", row, "); use NonFinitePolicy::drop to drop such samples"),
                    level, block.first + i);
            }
            ++dropped;
            continue;
        }
        if (policy == NonFinitePolicy::error) {
            const bool fine_bad = (flags & fine_flag) != 0;
            const auto& x = fine_bad ? block.x_fine : block.x_coarse;
            Index row = 0;
            while (row < d && std::isfinite(x(row, i))) ++row;
            throw SimulationError(
                message(caller, ": level ", level, ", sample ", block.first + i,
                        ": non-finite output ",
                        x(row, i), " at row ", row, " of the ", fine_bad ? "fine" : "coarse",
                        " simulator (G_", fine_bad ? level : level - 1, ", seed ",
                        block.seeds[static_cast<std::size_t>(i)],
                        "); use NonFinitePolicy::drop to drop such samples"),
                level, block.first + i);
        }
        ++dropped;
    }
    LevelData data;
    data.theta = std::move(block.theta);
    data.x_fine = std::move(block.x_fine);
    data.x_coarse = std::move(block.x_coarse);
    data.seeds = std::move(block.seeds);
    if (dropped > 0) {  // compact the kept columns, in order
        Index kept = 0;
        for (Index i = 0; i < n; ++i) {
            if (block.bad[static_cast<std::size_t>(i)] != 0) continue;
            if (kept != i) {
                data.theta.col(kept) = data.theta.col(i);
                data.x_fine.col(kept) = data.x_fine.col(i);
                if (with_coarse) data.x_coarse.col(kept) = data.x_coarse.col(i);
                data.seeds[static_cast<std::size_t>(kept)] =
                    data.seeds[static_cast<std::size_t>(i)];
            }
            ++kept;
        }
        require(kept > 0, caller, ": level ", level, ": all ", n,
                " samples were non-finite and dropped; the level would be empty");
        data.theta.conservativeResize(data.theta.rows(), kept);
        data.x_fine.conservativeResize(d, kept);
        if (with_coarse) data.x_coarse.conservativeResize(d, kept);
        data.seeds.resize(static_cast<std::size_t>(kept));
    }
    report.requested = n;
    report.dropped = dropped;
    report.kept = n - dropped;
    report.simulations = (with_coarse ? 2 : 1) * (n - unsimulated);
    report.threads = block.threads;
    return data;
}

// Simulates one level of n samples in parallel and applies the non-finite policy. Column i is
// sample first_index + i of the stream, so a pilot of the first indices can later be extended
// without repeating it (training/pilot.hpp).
template <distributions::Prior P, class Fine, class Coarse>
LevelData generate_level(const char* caller, std::size_t level, std::uint64_t stream_level, Index n,
                         Index d, bool with_coarse, std::uint64_t master, const P& prior,
                         NonFinitePolicy policy, int threads, const Fine& fine,
                         const Coarse& coarse, LevelReport& report, Index first_index = 0) {
    LevelBlock block;
    const auto start = std::chrono::steady_clock::now();
    simulate_block(stream_level, first_index, n, d, with_coarse, master, prior, threads, fine, coarse,
                   block);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    LevelData data = finish_level(caller, level, policy, block, report);
    report.seconds = seconds;
    report.seconds_per_simulation =
        report.simulations > 0 ? seconds / static_cast<double>(report.simulations) : 0.0;
    return data;
}

// Checks a multilevel model, prior and options against each other; returns the common output
// dimension d. \throws std::invalid_argument as generate_multilevel_dataset, prefixed by `caller`.
template <MultilevelModel Multilevel, distributions::Prior P>
Index check_multilevel_inputs(const char* caller, const Multilevel& model, const P& prior,
                              const GenerationOptions& options) {
    options.validate();
    constexpr std::size_t level_count = Multilevel::levels;
    require(options.samples_per_level.size() == level_count, caller, ": samples_per_level has ",
            options.samples_per_level.size(), " entries but the simulator has ", level_count,
            " levels (0..", level_count - 1, ")");
    const Index d = model.output_dim(0);
    require(d >= 1, caller, ": level 0 has output_dim ", d, " (need >= 1)");
    require(prior.dim() >= 1, caller, ": the prior has dimension ", prior.dim());
    for (std::size_t l = 0; l < level_count; ++l) {
        require(model.output_dim(l) == d, caller, ": level ", l, " has output_dim ",
                model.output_dim(l), " but level 0 has ", d,
                " (seed-matched levels must produce the same kind of x)");
        // Optional: MultilevelSimulator reports each level's declared parameter_dim().
        if constexpr (requires {
                          { model.parameter_dim(l) } -> std::same_as<std::optional<Index>>;
                      }) {
            const std::optional<Index> declared = model.parameter_dim(l);
            require(!declared || *declared == prior.dim(), caller, ": level ", l,
                    " expects theta of dimension ", declared.value_or(0), " but the prior has ",
                    prior.dim());
        }
    }
    return d;
}

// Simulates samples [first, first + n) of dataset level `level`: x_fine = G_l and, for l >= 1,
// x_coarse = G_{l-1} on the same (theta, seed). The one place a multilevel column is made.
template <MultilevelModel Multilevel, distributions::Prior P>
void simulate_level_block(const Multilevel& model, const P& prior, std::size_t level, Index first,
                          Index n, Index d, std::uint64_t master, int threads, LevelBlock& block) {
    auto fine = [&](const ConstVectorRef<double>& theta, std::uint64_t seed, VectorRef<double> x) {
        model.simulate(level, theta, seed, x);
    };
    auto coarse = [&](const ConstVectorRef<double>& theta, std::uint64_t seed,
                      VectorRef<double> x) { model.simulate(level - 1, theta, seed, x); };
    simulate_block(static_cast<std::uint64_t>(level), first, n, d, level >= 1, master, prior,
                   threads, fine, coarse, block);
}

}  // namespace detail

/// Generates seed-matched multilevel training data.
///
/// Level 0 gets n_0 runs of G_0 on fresh (theta, seed); level l >= 1 gets n_l fresh
/// (theta, seed), each run at both G_{l-1} (x_coarse) and G_l (x_fine). theta ~ prior. Samples
/// are simulated in parallel (OpenMP, dynamic schedule); the result does not depend on the
/// thread count (see the file comment for the seed derivation).
/// \tparam Multilevel satisfies MultilevelModel (e.g. MultilevelSimulator).
/// \tparam P satisfies distributions::Prior.
/// \throws std::invalid_argument for invalid options, a number of levels that differs from
///         Multilevel::levels, output dimensions that differ between levels, or a prior whose
///         dimension differs from a level's declared parameter_dim(), or a dataset larger than
///         options.max_bytes (naming the level); SimulationError naming the level and sample
///         index when a simulator throws or (policy error) the prior draws or a simulator returns
///         a non-finite value; std::invalid_argument when dropping empties a level.
template <MultilevelModel Multilevel, distributions::Prior P>
[[nodiscard]] MultilevelDataset generate_multilevel_dataset(const Multilevel& model, const P& prior,
                                                            const GenerationOptions& options) {
    constexpr std::size_t level_count = Multilevel::levels;
    const char* caller = "generate_multilevel_dataset";
    const Index d = detail::check_multilevel_inputs(caller, model, prior, options);
    detail::check_dataset_size(caller, options.samples_per_level, prior.dim(), d,
                               options.max_bytes);

    MultilevelDataset dataset;
    dataset.levels.reserve(level_count);
    dataset.reports.resize(level_count);
    detail::LevelBlock block;
    for (std::size_t l = 0; l < level_count; ++l) {
        LevelReport& report = dataset.reports[l];
        const auto start = std::chrono::steady_clock::now();
        detail::simulate_level_block(model, prior, l, 0, options.samples_per_level[l], d,
                                     options.seed, options.threads, block);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        dataset.levels.push_back(
            detail::finish_level(caller, l, options.non_finite, block, report));
        report.seconds = seconds;
        report.seconds_per_simulation =
            report.simulations > 0 ? seconds / static_cast<double>(report.simulations) : 0.0;
    }
    return dataset;
}

/// Generates n plain (single-level) simulations of one level, e.g. the high-fidelity data of an
/// MC baseline. theta_i ~ prior, x_i = sim(theta_i, seed_i), seeds derived as for a multilevel
/// dataset with level index `single_level_stream`, so the samples are independent of a
/// multilevel dataset generated from the same master seed.
/// \param report if not null, receives the level report.
/// \throws std::invalid_argument if n < 1 or options are invalid; SimulationError as
///         generate_multilevel_dataset (level reported as 0).
template <LevelSimulator S, distributions::Prior P>
[[nodiscard]] Simulations generate_dataset(const S& sim, const P& prior, Index n, std::uint64_t seed,
                                         const DatasetOptions& options = {},
                                         LevelReport* report = nullptr) {
    options.validate();
    const char* caller = "generate_dataset";
    require(n >= 1, caller, ": n must be >= 1, got ", n);
    const Index d = sim.output_dim();
    require(d >= 1, caller, ": output_dim is ", d, " (need >= 1)");
    if (const auto declared = parameter_dim(sim))
        require(*declared == prior.dim(), caller, ": the simulator expects theta of dimension ",
                *declared, " but the prior has ", prior.dim());
    detail::check_dataset_size(caller, {n}, prior.dim(), d, options.max_bytes);
    auto fine = [&](const ConstVectorRef<double>& theta, std::uint64_t s, VectorRef<double> x) {
        sim.simulate(theta, s, x);
    };
    LevelReport local;
    LevelData data =
        detail::generate_level(caller, 0, single_level_stream, n, d, false, seed, prior,
                               options.non_finite, options.threads, fine, fine, local);
    if (report != nullptr) *report = local;
    return Simulations{std::move(data.theta), std::move(data.x_fine), std::move(data.seeds)};
}

/// Checks a dataset's shapes and values: at least one level; every level non-empty; theta with
/// the same p >= 1 rows at every level; x_fine with the same d >= 1 rows and n_l columns;
/// x_coarse 0 x 0 at level 0 and d x n_l above; seeds empty or of size n_l; every entry finite.
/// \throws std::invalid_argument naming the level, the array and, for values, the sample index
///         (column) and row.
inline void validate_dataset(const MultilevelDataset& dataset) {
    const char* caller = "validate_dataset";
    require(!dataset.levels.empty(), caller, ": the dataset has no levels");
    const Index p = dataset.levels[0].theta.rows();
    const Index d = dataset.levels[0].x_fine.rows();
    require(p >= 1, caller, ": level 0 theta has ", p, " rows (need >= 1)");
    require(d >= 1, caller, ": level 0 x_fine has ", d, " rows (need >= 1)");
    for (std::size_t l = 0; l < dataset.levels.size(); ++l) {
        const LevelData& level = dataset.levels[l];
        const Index n = level.theta.cols();
        require(n >= 1, caller, ": level ", l, " is empty (0 samples)");
        require(level.theta.rows() == p, caller, ": level ", l, " theta has ", level.theta.rows(),
                " rows but level 0 has ", p);
        require(level.x_fine.rows() == d && level.x_fine.cols() == n, caller, ": level ", l,
                " x_fine is ", level.x_fine.rows(), " x ", level.x_fine.cols(), ", expected ", d,
                " x ", n, " (d x n_l, one sample per column)");
        if (l == 0)
            require(level.x_coarse.size() == 0, caller, ": level 0 x_coarse must be empty, got ",
                    level.x_coarse.rows(), " x ", level.x_coarse.cols());
        else
            require(level.x_coarse.rows() == d && level.x_coarse.cols() == n, caller, ": level ", l,
                    " x_coarse is ", level.x_coarse.rows(), " x ", level.x_coarse.cols(),
                    ", expected ", d, " x ", n);
        require(level.seeds.empty() || level.seeds.size() == static_cast<std::size_t>(n), caller,
                ": level ", l, " has ", level.seeds.size(), " seeds for ", n, " samples");
        const auto check = [&](const Matrix<double>& m, const char* name) {
            for (Index j = 0; j < m.cols(); ++j)
                for (Index i = 0; i < m.rows(); ++i)
                    require(std::isfinite(m(i, j)), caller, ": level ", l, " ", name,
                            " has a non-finite value ", m(i, j), " at sample ", j, ", row ", i);
        };
        check(level.theta, "theta");
        check(level.x_fine, "x_fine");
        check(level.x_coarse, "x_coarse");
    }
}

/// Builds a dataset from user arrays (simulations run elsewhere, e.g. the CAMELS power spectra):
/// `levels[l]` holds theta (p x n_l), x_fine (d x n_l) and, for l >= 1, x_coarse (d x n_l) whose
/// column i comes from the same simulation seed as x_fine's column i; seeds may stay empty. With
/// NonFinitePolicy::drop, samples with a non-finite entry in any of their arrays are dropped (the
/// whole seed-matched sample) and counted in the reports; then everything is validated
/// (validate_dataset). Reports: requested = n_l, kept, dropped, no simulations.
/// \throws std::invalid_argument as validate_dataset (naming level, array, sample and row).
[[nodiscard]] inline MultilevelDataset dataset_from_arrays(
    std::vector<LevelData> levels, NonFinitePolicy non_finite = NonFinitePolicy::error) {
    MultilevelDataset dataset;
    dataset.reports.resize(levels.size());
    for (std::size_t l = 0; l < levels.size(); ++l) {
        LevelData& level = levels[l];
        const Index n = level.theta.cols();
        dataset.reports[l].requested = n;
        const bool shapes_ok =
            level.x_fine.cols() == n && (l == 0 || level.x_coarse.cols() == n) &&
            (level.seeds.empty() || level.seeds.size() == static_cast<std::size_t>(n));
        if (non_finite == NonFinitePolicy::drop && shapes_ok) {
            Index kept = 0;
            for (Index i = 0; i < n; ++i) {
                const bool finite = level.theta.col(i).allFinite() &&
                                    level.x_fine.col(i).allFinite() &&
                                    (l == 0 || level.x_coarse.col(i).allFinite());
                if (!finite) continue;
                if (kept != i) {
                    level.theta.col(kept) = level.theta.col(i);
                    level.x_fine.col(kept) = level.x_fine.col(i);
                    if (l > 0) level.x_coarse.col(kept) = level.x_coarse.col(i);
                    if (!level.seeds.empty())
                        level.seeds[static_cast<std::size_t>(kept)] =
                            level.seeds[static_cast<std::size_t>(i)];
                }
                ++kept;
            }
            if (kept < n) {
                level.theta.conservativeResize(level.theta.rows(), kept);
                level.x_fine.conservativeResize(level.x_fine.rows(), kept);
                if (l > 0) level.x_coarse.conservativeResize(level.x_coarse.rows(), kept);
                if (!level.seeds.empty()) level.seeds.resize(static_cast<std::size_t>(kept));
            }
            dataset.reports[l].dropped = n - kept;
        }
        dataset.reports[l].kept = level.theta.cols();
    }
    dataset.levels = std::move(levels);
    validate_dataset(dataset);
    return dataset;
}

}  // namespace mlsbi::simulators
