// SPDX-License-Identifier: MIT
// Tests for mpi/campaign.hpp, run under mpiexec with 1, 2 and 3 ranks: a campaign over the
// communicator (static or dynamic), stopped and resumed any number of times, loads
// bit-identically to one-process generation; errors reach every rank alike.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "../simulators/campaign_testing.hpp"
#include "mlsbi/distributions.hpp"
#include "mlsbi/mpi/campaign.hpp"
#include "mpi_testing.hpp"

using namespace mlsbi;
using namespace mlsbi::simulators;
using mlsbi::testing_support::all_ranks;
using mlsbi::testing_support::same_dataset;
using mlsbi::testing_support::simulation_error_site;
using mlsbi::testing_support::throwing_model;
using mlsbi::testing_support::toy_model;

namespace {

const distributions::BoxUniform& prior = testing_support::toy_prior();

// A fresh directory named by rank 0 (its pid), the same on every rank.
std::string shared_directory(const std::string& name) {
    long long pid = getpid();
    MPI_Bcast(&pid, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
    const auto dir = std::filesystem::temp_directory_path() /
                     ("mlsbi_test_mpi_campaign_" + name + "_" + std::to_string(pid));
    if (mpi::RankInfo(MPI_COMM_WORLD).rank == 0) std::filesystem::remove_all(dir);
    MPI_Barrier(MPI_COMM_WORLD);
    return dir.string();
}

}  // namespace

TEST_CASE("mpi::run_campaign: stop, resume, load bit-identically", "[mpi][campaign]") {
    const auto model = toy_model(/*extra=*/1, /*nan_above=*/2.0, /*work=*/50);
    const GenerationOptions generation{
        .samples_per_level = {70, 33, 9}, .seed = 21, .non_finite = NonFinitePolicy::drop};
    const MultilevelDataset reference = generate_multilevel_dataset(model, prior, generation);
    for (const mpi::Schedule schedule : {mpi::Schedule::static_blocks, mpi::Schedule::dynamic}) {
        INFO(mpi::schedule_name(schedule));
        CampaignOptions options{.generation = generation,
                                .directory = shared_directory(mpi::schedule_name(schedule)),
                                .shard_size = 5};
        options.max_shards = 4;
        CampaignSummary summary;
        Index runs = 0, written = 0;
        do {
            summary = mpi::run_campaign(MPI_COMM_WORLD, model, prior, options, schedule);
            CHECK(summary.shards_found == written);
            CHECK(summary.shards_written <= 4);
            written += summary.shards_written;
            ++runs;
            REQUIRE(runs < 30);
        } while (summary.status == CampaignStatus::stopped);
        CHECK(all_ranks(summary.status == CampaignStatus::complete));
        CHECK(written == summary.shards_total);
        CHECK(summary.samples_simulated <= 4 * 5);
        CHECK(all_ranks(same_dataset(load_campaign(options.directory), reference)));

        // Without limits, one run does it all; a second finds everything finished.
        const std::string stopped_directory = options.directory;
        options.max_shards = 0;
        options.directory = shared_directory(std::string("full_") + mpi::schedule_name(schedule));
        const CampaignSummary full =
            mpi::run_campaign(MPI_COMM_WORLD, model, prior, options, schedule);
        CHECK(full.status == CampaignStatus::complete);
        CHECK(full.samples_simulated == 70 + 33 + 9);
        const CampaignSummary again =
            mpi::run_campaign(MPI_COMM_WORLD, model, prior, options, schedule);
        CHECK(again.shards_written == 0);
        CHECK(again.shards_found == again.shards_total);
        CHECK(all_ranks(same_dataset(load_campaign(options.directory), reference)));

        // A damaged finished shard is an error on every rank, naming the file.
        MPI_Barrier(MPI_COMM_WORLD);
        const std::string shard = campaign_shard_path(options.directory, {2, 1});
        if (mpi::RankInfo(MPI_COMM_WORLD).rank == 0)
            std::filesystem::resize_file(shard, std::filesystem::file_size(shard) / 2);
        MPI_Barrier(MPI_COMM_WORLD);
        std::string what;
        try {
            (void)mpi::run_campaign(MPI_COMM_WORLD, model, prior, options, schedule);
        } catch (const std::invalid_argument& e) {
            what = e.what();
        }
        CHECK(all_ranks(what.find(shard) != std::string::npos));
        MPI_Barrier(MPI_COMM_WORLD);
        if (mpi::RankInfo(MPI_COMM_WORLD).rank == 0) {
            std::filesystem::remove_all(options.directory);
            std::filesystem::remove_all(stopped_directory);
        }
    }
}

TEST_CASE("mpi::run_campaign: a simulator that throws ends the run on every rank", "[mpi]") {
    const auto model = throwing_model(2.9);
    const GenerationOptions generation{.samples_per_level = {300}, .seed = 1};
    const CampaignOptions options{
        .generation = generation, .directory = shared_directory("throws"), .shard_size = 10};
    const CampaignSummary summary = mpi::run_campaign(MPI_COMM_WORLD, model, prior, options);
    CHECK(all_ranks(summary.status == CampaignStatus::simulation_failed));
    CHECK_THAT(summary.failure, Catch::Contains("solver diverged"));
    CHECK(summary.shards_written < summary.shards_total);
    MPI_Barrier(MPI_COMM_WORLD);
    if (mpi::RankInfo(MPI_COMM_WORLD).rank == 0) std::filesystem::remove_all(options.directory);
}
