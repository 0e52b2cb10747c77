// SPDX-License-Identifier: MIT
// Campaign throughput over MPI ranks (run under mpiexec; see run_campaign_scaling.sh):
// a two-level simulator of uneven cost (G_1 about 1 ms per sample on average, G_0 about
// 0.2 ms; 5% of the parameters, theta_1 > 0.95, cost 21 times the others, as when a solver
// struggles in part of the prior), generated
//   - in memory with static blocks and with dynamic chunks (mpi::generate_multilevel_dataset),
//   - as a campaign with shards (mpi::run_campaign, durable writes), dynamic,
// a few repetitions each. Prints one CSV line per run (rank 0):
//   ranks,mode,schedule,repetition,wall_s,samples_per_s,busy_max_over_mean,cpu_s
// The cost is real CPU work (a calibrated loop), so oversubscribed ranks show as lost efficiency.
//   campaign_throughput [--quick] [--repetitions R] [--directory DIR]
#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>

#include "mlsbi/distributions.hpp"
#include "mlsbi/mpi.hpp"
#include "mlsbi/rng.hpp"
#include "mlsbi/simulators.hpp"

using namespace mlsbi;
using namespace mlsbi::simulators;

namespace {

// Calibrated so that spin(iterations_per_ms) takes about 1 ms of CPU.
double spin(long iterations) {
    double x = 0.5;
    for (long k = 0; k < iterations; ++k) x = x * 0.999999 + std::sqrt(x + 1e-3 * k);
    return x;
}

long calibrate_iterations_per_ms() {
    long iterations = 100000;
    for (;;) {
        const std::clock_t start = std::clock();
        volatile double sink = spin(iterations);
        (void)sink;
        const double ms = 1000.0 * static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
        if (ms > 50) return static_cast<long>(static_cast<double>(iterations) / ms);
        iterations *= 2;
    }
}

// Level with mean cost `mean_ms`: factor 0.5 for theta_1 <= 0.95 and 10.5 above (mean 1); the
// output depends on the spin result so the work cannot be removed.
auto costly_level(double mean_ms, long iterations_per_ms, double level_shift) {
    return make_level(
        2, [=](const ConstVectorRef<double>& theta, RandomStream& rng, VectorRef<double> x) {
            const double factor = theta(1) > 0.95 ? 10.5 : 0.5;
            const double work = spin(static_cast<long>(mean_ms * factor * iterations_per_ms));
            x(0) = theta(0) + (1.0 + level_shift) * standard_normal(rng) + 1e-300 * work;
            x(1) = theta(1) * rng.uniform();
        });
}

double process_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

}  // namespace

int main(int argc, char* argv[]) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    const mpi::RankInfo info(MPI_COMM_WORLD);
    bool quick = false;
    int repetitions = 3;
    std::string directory =
        (std::filesystem::temp_directory_path() / "mlsbi_bench_campaign").string();
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) quick = true;
        if (std::strcmp(argv[i], "--repetitions") == 0 && i + 1 < argc)
            repetitions = std::atoi(argv[++i]);
        if (std::strcmp(argv[i], "--directory") == 0 && i + 1 < argc) directory = argv[++i];
    }
    if (quick) repetitions = 1;

    long iterations_per_ms = info.rank == 0 ? calibrate_iterations_per_ms() : 0;
    MPI_Bcast(&iterations_per_ms, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    const MultilevelSimulator model(costly_level(0.2, iterations_per_ms, 0.0),
                                    costly_level(1.0, iterations_per_ms, 0.1));
    const distributions::BoxUniform prior({0.0, 0.0}, {1.0, 1.0});
    const GenerationOptions generation{
        .samples_per_level = quick ? std::vector<Index>{200, 40} : std::vector<Index>{2000, 400},
        .seed = 7,
        .threads = 1};
    const Index samples = generation.samples_per_level[0] + generation.samples_per_level[1];

    if (info.rank == 0)
        std::printf(
            "ranks,mode,schedule,repetition,wall_s,samples_per_s,busy_max_over_mean,cpu_s\n");
    const auto emit = [&](const char* mode, mpi::Schedule schedule, int repetition, double wall,
                          double imbalance, double cpu) {
        double cpu_total = 0;
        MPI_Reduce(&cpu, &cpu_total, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
        if (info.rank == 0)
            std::printf("%d,%s,%s,%d,%.4f,%.1f,%.3f,%.3f\n", info.size, mode,
                        mpi::schedule_name(schedule), repetition, wall,
                        static_cast<double>(samples) / wall, imbalance, cpu_total);
        std::fflush(stdout);
    };
    for (int repetition = 0; repetition < repetitions; ++repetition) {
        for (const mpi::Schedule schedule :
             {mpi::Schedule::static_blocks, mpi::Schedule::dynamic}) {
            mpi::DistributionReport report;
            MPI_Barrier(MPI_COMM_WORLD);
            const double cpu = process_cpu_seconds();
            const double start = MPI_Wtime();
            const MultilevelDataset data = mpi::generate_multilevel_dataset(
                MPI_COMM_WORLD, model, prior, generation, {.schedule = schedule}, &report);
            const double wall = MPI_Wtime() - start;
            double busy_max = 0, busy_sum = 0;
            for (double busy : report.busy_seconds) {
                busy_max = std::max(busy_max, busy);
                busy_sum += busy;
            }
            emit("memory", schedule, repetition, wall,
                 busy_max / (busy_sum / static_cast<double>(info.size)),
                 process_cpu_seconds() - cpu);
        }
        // Campaign with durable shards (the checkpointed run), into a fresh directory.
        for (const bool durable : {true, false}) {
            const std::string dir = directory + "_" + std::to_string(repetition);
            if (info.rank == 0) std::filesystem::remove_all(dir);
            MPI_Barrier(MPI_COMM_WORLD);
            CampaignOptions options{.generation = generation, .directory = dir, .shard_size = 50};
            options.durable = durable;
            const double cpu = process_cpu_seconds();
            const double start = MPI_Wtime();
            const CampaignSummary summary =
                mpi::run_campaign(MPI_COMM_WORLD, model, prior, options, mpi::Schedule::dynamic);
            const double wall = MPI_Wtime() - start;
            if (summary.status != CampaignStatus::complete) MPI_Abort(MPI_COMM_WORLD, 1);
            emit(durable ? "shards_fsync" : "shards_nofsync", mpi::Schedule::dynamic, repetition,
                 wall, 0.0, process_cpu_seconds() - cpu);
            MPI_Barrier(MPI_COMM_WORLD);
            if (info.rank == 0) std::filesystem::remove_all(dir);
        }
    }
    MPI_Finalize();
    return 0;
}
