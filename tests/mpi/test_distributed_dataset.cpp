// SPDX-License-Identifier: MIT
// Tests for mpi/distributed_dataset.hpp, run under mpiexec with 1, 2 and 3 ranks and
// OMP_NUM_THREADS 1 and 2: the distributed dataset is bit-identical to one-process generation
// for both schedules and several chunk sizes, the non-finite policies and simulator failures
// give the same result or error on every rank, and the work report adds up.
#include <catch2/catch.hpp>

#include "../simulators/campaign_testing.hpp"
#include "mlsbi/distributions.hpp"
#include "mlsbi/mpi/distributed_dataset.hpp"
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

int world_size() { return mpi::RankInfo(MPI_COMM_WORLD).size; }

}  // namespace

TEST_CASE("mpi::generate_multilevel_dataset: bit-identical to one process", "[mpi]") {
    for (const NonFinitePolicy policy : {NonFinitePolicy::drop, NonFinitePolicy::error}) {
        GenerationOptions options{
            .samples_per_level = {97, 31, 5}, .seed = 8, .non_finite = policy};
        if (policy == NonFinitePolicy::error) options.seed = 9;
        const auto serial_model = toy_model(2, policy == NonFinitePolicy::error ? 10.0 : 2.0, 50);
        const MultilevelDataset reference =
            generate_multilevel_dataset(serial_model, prior, options);
        if (policy == NonFinitePolicy::drop) REQUIRE(reference.reports[1].dropped > 0);
        for (const mpi::Schedule schedule :
             {mpi::Schedule::static_blocks, mpi::Schedule::dynamic}) {
            for (const Index chunk : {Index{0}, Index{1}, Index{7}}) {
                for (const int threads : {0, 3}) {
                    INFO("ranks " << world_size() << ", " << mpi::schedule_name(schedule)
                                  << ", chunk " << chunk << ", threads " << threads);
                    options.threads = threads;
                    mpi::DistributionReport report;
                    const MultilevelDataset distributed = mpi::generate_multilevel_dataset(
                        MPI_COMM_WORLD, serial_model, prior, options,
                        {.schedule = schedule, .chunk_size = chunk}, &report);
                    CHECK(all_ranks(same_dataset(distributed, reference)));
                    REQUIRE(report.samples.size() == static_cast<std::size_t>(world_size()));
                    Index total = 0;
                    for (Index n : report.samples) total += n;
                    CHECK(total == 97 + 31 + 5);
                    for (double busy : report.busy_seconds) CHECK(busy >= 0.0);
                    CHECK(report.wall_seconds > 0.0);
                    CHECK(distributed.reports[2].seconds >= 0.0);
                }
            }
        }
    }
}

TEST_CASE("mpi::generate_multilevel_dataset: errors are the one-process errors on every rank",
          "[mpi]") {
    const auto model = toy_model();  // NaN at level 1 when theta_0 > 2
    const GenerationOptions options{.samples_per_level = {40, 30, 6}, .seed = 4};
    const auto expected =
        simulation_error_site([&] { return generate_multilevel_dataset(model, prior, options); });
    REQUIRE(expected.level == 1);
    for (const mpi::Schedule schedule : {mpi::Schedule::static_blocks, mpi::Schedule::dynamic}) {
        const auto got = simulation_error_site([&] {
            return mpi::generate_multilevel_dataset(MPI_COMM_WORLD, model, prior, options,
                                                    {.schedule = schedule, .chunk_size = 3});
        });
        CHECK(all_ranks(got.level == expected.level && got.index == expected.index));
    }

    // A simulator that throws: the lowest throwing sample, on every rank.
    const auto one_level = throwing_model(2.5);
    const GenerationOptions single{.samples_per_level = {60}, .seed = 2};
    const auto serial = simulation_error_site(
        [&] { return generate_multilevel_dataset(one_level, prior, single); });
    REQUIRE(serial.index >= 0);
    const auto distributed = simulation_error_site([&] {
        return mpi::generate_multilevel_dataset(MPI_COMM_WORLD, one_level, prior, single,
                                                {.chunk_size = 4});
    });
    CHECK(all_ranks(distributed.index == serial.index));
    CHECK_THAT(distributed.what, Catch::Contains("solver diverged"));

    CHECK_THROWS_WITH(
        mpi::generate_multilevel_dataset(MPI_COMM_WORLD, model, prior, options, {.chunk_size = -1}),
        Catch::Contains("chunk_size"));
}

TEST_CASE("mpi::static_block covers every item once", "[mpi]") {
    for (const int size : {1, 2, 3, 7})
        for (const Index items : {Index{0}, Index{1}, Index{5}, Index{100}}) {
            Index next = 0;
            for (int rank = 0; rank < size; ++rank) {
                const mpi::StaticBlock block = mpi::static_block(items, rank, size);
                CHECK(block.begin == next);
                CHECK(block.end - block.begin <= items / size + 1);
                next = block.end;
            }
            CHECK(next == items);
        }
}

TEST_CASE("mpi::SharedCounter hands out every value exactly once", "[mpi]") {
    const mpi::RankInfo info(MPI_COMM_WORLD);
    std::vector<long long> mine;
    {
        mpi::SharedCounter counter(MPI_COMM_WORLD);
        for (std::int64_t k = counter.fetch_add(1); k < 200; k = counter.fetch_add(1))
            mine.push_back(k);
        MPI_Barrier(MPI_COMM_WORLD);
    }
    int count = static_cast<int>(mine.size());
    std::vector<int> counts(static_cast<std::size_t>(info.size)), offsets(counts.size(), 0);
    MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
    for (std::size_t r = 1; r < counts.size(); ++r) offsets[r] = offsets[r - 1] + counts[r - 1];
    std::vector<long long> all(static_cast<std::size_t>(offsets.back() + counts.back()));
    MPI_Allgatherv(mine.data(), count, MPI_LONG_LONG, all.data(), counts.data(), offsets.data(),
                   MPI_LONG_LONG, MPI_COMM_WORLD);
    std::sort(all.begin(), all.end());
    REQUIRE(all.size() == 200);
    for (std::size_t k = 0; k < all.size(); ++k) CHECK(all[k] == static_cast<long long>(k));
}
