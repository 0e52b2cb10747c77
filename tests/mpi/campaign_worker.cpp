// SPDX-License-Identifier: MIT
// Worker of tests/mpi/kill_and_resume.sh: `mpi_campaign_worker <dir>` runs (or resumes) a
// campaign over MPI_COMM_WORLD and exits 0 when it is complete; `mpi_campaign_worker <dir>
// --verify` (one process) loads it and exits 0 iff it is bit-identical to one-process generation.
#include <mpi.h>

#include <cstdio>
#include <cstring>
#include <exception>

#include "../simulators/campaign_testing.hpp"
#include "mlsbi/distributions.hpp"
#include "mlsbi/mpi/campaign.hpp"

using namespace mlsbi;
using namespace mlsbi::simulators;

int main(int argc, char* argv[]) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s <campaign-dir> [--verify]\n", argv[0]);
        return 2;
    }
    const distributions::BoxUniform prior({0.0, 0.5}, {3.0, 2.0});
    const auto model = testing_support::toy_model(/*extra=*/30, /*nan_above=*/2.0, /*work=*/4000);
    const GenerationOptions generation{
        .samples_per_level = {1800, 600, 180}, .seed = 1234, .non_finite = NonFinitePolicy::drop};
    try {
        if (argc > 2 && std::strcmp(argv[2], "--verify") == 0) {
            const bool same = testing_support::same_dataset(
                load_campaign(argv[1]), generate_multilevel_dataset(model, prior, generation));
            std::printf("campaign_worker: loaded dataset %s the uninterrupted one\n",
                        same ? "equals" : "DIFFERS FROM");
            return same ? 0 : 1;
        }
        MPI_Init(&argc, &argv);
        const CampaignOptions options{
            .generation = generation, .directory = argv[1], .shard_size = 12};
        const CampaignSummary summary = mpi::run_campaign(MPI_COMM_WORLD, model, prior, options);
        int rank = 0;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        if (rank == 0)
            std::printf(
                "campaign_worker: found %ld, wrote %ld of %ld shards, removed %ld "
                "temporaries\n",
                static_cast<long>(summary.shards_found), static_cast<long>(summary.shards_written),
                static_cast<long>(summary.shards_total),
                static_cast<long>(summary.temporaries_removed));
        MPI_Finalize();
        return summary.status == CampaignStatus::complete ? 0 : 3;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "campaign_worker: %s\n", e.what());
        return 4;
    }
}
