// SPDX-License-Identifier: MIT
// A resumable simulation campaign (docs/campaigns.md): the quick-start's two-level
// Ornstein-Uhlenbeck simulator (16 recorded time points), n_0 cheap runs and n_0 / 40
// seed-matched pairs, written to checksummed shards in a directory. Kill it at any moment and
// run it again with the same arguments: it continues where it stopped. When complete,
// `--load` builds the dataset from the shards and `--verify` also checks it bit for bit against
// in-memory generation. run_campaign's memory is bounded by the shard, whatever n_0.
//   resumable_campaign [--quick] [--samples N0] [--shard-size S] [--directory DIR]
//                      [--max-shards K] [--load] [--verify] [--no-fsync] [--in-memory]
// --in-memory only times generate_multilevel_dataset (the baseline of the checkpoint overhead).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "mlsbi/distributions/box_uniform.hpp"
#include "mlsbi/rng/normal.hpp"
#include "mlsbi/simulators/campaign.hpp"
#include "mlsbi/simulators/function_level.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "mlsbi/simulators/multilevel_simulator.hpp"

using namespace mlsbi;

// dx = -theta_0 x dt + theta_1 dW, x(0) = 1, Euler with `steps` steps, x recorded at 16 times;
// both levels read the same 64 normals (the coupling invariant).
template <int steps>
void euler(const ConstVectorRef<double>& theta, RandomStream& rng, VectorRef<double> x) {
    constexpr int fine = 64, group = fine / steps, records = 16;
    double state = 1.0;
    const double dt = 1.0 / steps;
    for (int i = 0; i < steps; ++i) {
        double dw = 0;
        for (int j = 0; j < group; ++j) dw += std::sqrt(1.0 / fine) * standard_normal(rng);
        state += -theta(0) * state * dt + theta(1) * dw;
        for (int r = i * records / steps; r < (i + 1) * records / steps; ++r) x(r) = state;
    }
}

int main(int argc, char* argv[]) {
    Index samples = 200000, shard_size = 4096, max_shards = 0;
    std::string directory =
        (std::filesystem::temp_directory_path() / "mlsbi_resumable_campaign").string();
    bool load = false, verify = false, quick = false, durable = true, in_memory = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (arg == "--quick")
            quick = true;
        else if (arg == "--load")
            load = true;
        else if (arg == "--no-fsync")
            durable = false;
        else if (arg == "--in-memory")
            in_memory = true;
        else if (arg == "--verify")
            load = verify = true;
        else if (arg == "--samples" && has_value)
            samples = std::atol(argv[++i]);
        else if (arg == "--shard-size" && has_value)
            shard_size = std::atol(argv[++i]);
        else if (arg == "--max-shards" && has_value)
            max_shards = std::atol(argv[++i]);
        else if (arg == "--directory" && has_value)
            directory = argv[++i];
        else {
            std::fprintf(stderr, "resumable_campaign: unknown argument %s\n", arg.c_str());
            return 2;
        }
    }
    if (quick) {  // CI size: a fresh small campaign, stopped once, resumed, verified
        samples = 4000;
        shard_size = 256;
        verify = load = true;
        std::filesystem::remove_all(directory);
    }

    const auto simulator =
        simulators::MultilevelSimulator(simulators::make_level(16, euler<4>, /*cost=*/1.0),
                                        simulators::make_level(16, euler<64>, /*cost=*/16.0));
    const distributions::BoxUniform prior({0.5, 0.2}, {3.0, 1.0});
    const simulators::GenerationOptions generation{
        .samples_per_level = {samples, std::max<Index>(1, samples / 40)}, .seed = 1};
    simulators::CampaignOptions options{
        .generation = generation, .directory = directory, .shard_size = shard_size};
    options.simulator_id = "examples/resumable_campaign OU 4/64 steps, 16 records";
    options.max_shards = quick ? 5 : max_shards;
    options.durable = durable;
    if (in_memory) {
        const auto start = std::chrono::steady_clock::now();
        const auto data = simulators::generate_multilevel_dataset(simulator, prior, generation);
        std::printf(
            "in memory: %ld samples in %.2f s\n",
            static_cast<long>(data.levels[0].size() + data.levels[1].size()),
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        return 0;
    }

    for (;;) {
        const simulators::CampaignSummary summary = run_campaign(simulator, prior, options);
        std::printf(
            "%s: %ld of %ld shards were finished, wrote %ld (%ld samples) in %.2f s, "
            "removed %ld temporaries\n",
            directory.c_str(), static_cast<long>(summary.shards_found),
            static_cast<long>(summary.shards_total), static_cast<long>(summary.shards_written),
            static_cast<long>(summary.samples_simulated), summary.seconds,
            static_cast<long>(summary.temporaries_removed));
        if (summary.status == simulators::CampaignStatus::simulation_failed) {
            std::fprintf(stderr, "simulation failed: %s\n", summary.failure.c_str());
            return 1;
        }
        if (summary.status == simulators::CampaignStatus::complete) break;
        if (!quick) {
            std::printf("stopped (max shards); run again to continue\n");
            return 0;
        }
        options.max_shards = 0;  // --quick: resume and finish
    }
    if (!load) return 0;
    const simulators::MultilevelDataset data = simulators::load_campaign(directory);
    std::printf("loaded %ld + %ld samples (%ld dropped)\n",
                static_cast<long>(data.levels[0].size()), static_cast<long>(data.levels[1].size()),
                static_cast<long>(data.reports[0].dropped + data.reports[1].dropped));
    if (verify) {
        const auto reference =
            simulators::generate_multilevel_dataset(simulator, prior, options.generation);
        bool same = true;
        for (std::size_t l = 0; l < 2; ++l)
            same = same && data.levels[l].theta == reference.levels[l].theta &&
                   data.levels[l].x_fine == reference.levels[l].x_fine &&
                   data.levels[l].x_coarse == reference.levels[l].x_coarse &&
                   data.levels[l].seeds == reference.levels[l].seeds;
        std::printf("bit-identical to in-memory generation: %s\n", same ? "yes" : "NO");
        if (!same) return 1;
    }
    if (quick) std::filesystem::remove_all(directory);
    return 0;
}
