// SPDX-License-Identifier: MIT
// Tests for simulators/campaign.hpp: shards load bit-identically to generate_multilevel_dataset
// (any shard size, thread count, non-finite policy); stop and resume without rewriting finished
// shards; leftover temporaries recomputed; damaged shards and manifests rejected naming the file;
// a campaign SIGKILLed at random moments, repeatedly, still ends with the uninterrupted dataset.
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "campaign_testing.hpp"
#include "mlsbi/distributions.hpp"
#include "mlsbi/simulators/campaign.hpp"

using namespace mlsbi;
using namespace mlsbi::simulators;
using mlsbi::testing_support::same_dataset;
using mlsbi::testing_support::simulation_error_site;
using mlsbi::testing_support::throwing_model;
using mlsbi::testing_support::toy_model;

namespace {

const distributions::BoxUniform prior({0.0, 0.5}, {3.0, 2.0});

// A fresh, empty directory under the system temp dir.
std::string fresh_directory(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("mlsbi_test_campaign_" + name + "_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    return dir.string();
}

// Inode of every finished shard file (a rewritten shard gets a new inode through the rename).
std::map<std::string, ino_t> shard_inodes(const std::string& dir) {
    std::map<std::string, ino_t> inodes;
    if (!std::filesystem::exists(dir)) return inodes;  // before the campaign's first run
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("level", 0) != 0 || name.find(".tmp-") != std::string::npos) continue;
        struct stat info {};
        if (::stat(entry.path().c_str(), &info) == 0) inodes[name] = info.st_ino;
    }
    return inodes;
}

Index temporaries_in(const std::string& dir) {
    Index count = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        if (entry.path().filename().string().find(".tmp-") != std::string::npos) ++count;
    return count;
}

}  // namespace

TEST_CASE("run_campaign + load_campaign: bit-identical to generate_multilevel_dataset",
          "[campaign]") {
    const auto model = toy_model(/*extra=*/1);
    for (const NonFinitePolicy policy : {NonFinitePolicy::drop, NonFinitePolicy::error}) {
        const GenerationOptions generation{
            .samples_per_level = {50, 23, 7}, .seed = 11, .non_finite = policy};
        for (const Index shard_size : {Index{1}, Index{8}, Index{23}, Index{100}}) {
            for (const int threads : {1, 2, 3}) {
                INFO("policy " << (policy == NonFinitePolicy::drop ? "drop" : "error")
                               << ", shard_size " << shard_size << ", threads " << threads);
                CampaignOptions options{.generation = generation,
                                        .directory = fresh_directory("identical"),
                                        .shard_size = shard_size};
                options.simulator_id = "toy 3 levels";
                options.generation.threads = threads;
                const CampaignSummary summary = run_campaign(model, prior, options);
                CHECK(summary.status == CampaignStatus::complete);
                CHECK(summary.shards_found == 0);
                CHECK(summary.shards_written == summary.shards_total);
                CHECK(summary.samples_simulated == 50 + 23 + 7);
                Index expected_shards = 0;
                for (Index n : generation.samples_per_level)
                    expected_shards += (n + shard_size - 1) / shard_size;
                CHECK(summary.shards_total == expected_shards);
                if (policy == NonFinitePolicy::drop) {
                    const MultilevelDataset reference =
                        generate_multilevel_dataset(model, prior, generation);
                    REQUIRE(reference.reports[1].dropped > 0);  // the NaN path is exercised
                    const MultilevelDataset loaded = load_campaign(options.directory);
                    CHECK(same_dataset(loaded, reference));
                    CHECK(loaded.reports[1].seconds >= 0.0);
                } else {
                    // The same SimulationError (level and sample) as in-memory generation.
                    const auto expected = simulation_error_site(
                        [&] { return generate_multilevel_dataset(model, prior, generation); });
                    REQUIRE(expected.level == 1);
                    const auto got =
                        simulation_error_site([&] { return load_campaign(options.directory); });
                    CHECK(got.level == expected.level);
                    CHECK(got.index == expected.index);
                    CHECK_THAT(got.what, Catch::Contains("load_campaign: level 1"));
                }
                std::filesystem::remove_all(options.directory);
            }
        }
    }
}

TEST_CASE("run_campaign: stop and resume without rewriting finished shards", "[campaign]") {
    const auto model = toy_model();
    const GenerationOptions generation{.samples_per_level = {40, 20, 10},
                                       .seed = 3,
                                       .non_finite = NonFinitePolicy::drop,
                                       .threads = 1};
    CampaignOptions options{
        .generation = generation, .directory = fresh_directory("resume"), .shard_size = 6};
    options.max_shards = 4;
    std::map<std::string, ino_t> seen;
    Index runs = 0, written = 0;
    CampaignSummary summary;
    do {
        summary = run_campaign(model, prior, options);
        ++runs;
        CHECK(summary.shards_found == written);
        written += summary.shards_written;
        CHECK(summary.shards_written <= 4);
        for (const auto& [name, inode] : shard_inodes(options.directory)) {
            INFO(name);
            if (seen.count(name) != 0) CHECK(seen[name] == inode);  // never rewritten
            seen[name] = inode;
        }
        REQUIRE(runs < 20);
    } while (summary.status == CampaignStatus::stopped);
    CHECK(summary.status == CampaignStatus::complete);
    CHECK(written == summary.shards_total);
    CHECK(runs == (summary.shards_total + 3) / 4);

    // A run of a complete campaign does nothing.
    const CampaignSummary again = run_campaign(model, prior, options);
    CHECK(again.status == CampaignStatus::complete);
    CHECK(again.shards_written == 0);
    CHECK(again.shards_found == again.shards_total);

    CHECK(same_dataset(load_campaign(options.directory),
                       generate_multilevel_dataset(model, prior, generation)));

    SECTION("an unfinished campaign does not load, naming the missing shard") {
        std::filesystem::remove(campaign_shard_path(options.directory, {1, 2}));
        CHECK_THROWS_WITH(
            load_campaign(options.directory),
            Catch::Contains("level1-shard2.bin is missing") && Catch::Contains("unfinished"));
        const CampaignSummary repaired = run_campaign(model, prior, options);
        CHECK(repaired.shards_written == 1);
        CHECK(same_dataset(load_campaign(options.directory),
                           generate_multilevel_dataset(model, prior, generation)));
    }
    SECTION("max_seconds stops before starting a shard") {
        const std::string dir = fresh_directory("timed");
        CampaignOptions timed = options;
        timed.directory = dir;
        timed.max_shards = 0;
        timed.max_seconds = 1e-12;
        const CampaignSummary stopped = run_campaign(model, prior, timed);
        CHECK(stopped.status == CampaignStatus::stopped);
        CHECK(stopped.shards_written <= 1);
        std::filesystem::remove_all(dir);
    }
    std::filesystem::remove_all(options.directory);
}

TEST_CASE("run_campaign: leftover temporaries are recomputed, damaged files named",
          "[campaign][corrupt]") {
    const auto model = toy_model();
    const GenerationOptions generation{
        .samples_per_level = {12, 8, 4}, .seed = 5, .non_finite = NonFinitePolicy::drop};
    const CampaignOptions options{
        .generation = generation, .directory = fresh_directory("corrupt"), .shard_size = 4};
    REQUIRE(run_campaign(model, prior, options).status == CampaignStatus::complete);
    const MultilevelDataset reference = load_campaign(options.directory);
    const std::string shard = campaign_shard_path(options.directory, {1, 1});

    SECTION("a kill mid-write leaves a temporary: deleted, shard recomputed") {
        std::filesystem::rename(shard, shard + ".tmp-host-123");
        std::filesystem::resize_file(shard + ".tmp-host-123", 100);  // half written
        const CampaignSummary summary = run_campaign(model, prior, options);
        CHECK(summary.temporaries_removed == 1);
        CHECK(summary.shards_written == 1);
        CHECK(temporaries_in(options.directory) == 0);
        CHECK(same_dataset(load_campaign(options.directory), reference));
    }
    SECTION("a truncated finished shard is an error naming the file") {
        std::filesystem::resize_file(shard, std::filesystem::file_size(shard) - 1);
        CHECK_THROWS_WITH(run_campaign(model, prior, options),
                          Catch::Contains(shard) && Catch::Contains("truncated"));
        CHECK_THROWS_WITH(load_campaign(options.directory), Catch::Contains(shard));
    }
    SECTION("a flipped bit is a CRC-32 mismatch naming the file") {
        std::fstream file(shard, std::ios::in | std::ios::out | std::ios::binary);
        file.seekg(100);
        char byte = 0;
        file.read(&byte, 1);
        byte ^= 0x10;
        file.seekp(100);
        file.write(&byte, 1);
        file.close();
        CHECK_THROWS_WITH(load_campaign(options.directory),
                          Catch::Contains(shard) && Catch::Contains("CRC-32 mismatch") &&
                              Catch::Contains("delete it"));
        CHECK_THROWS_AS(run_campaign(model, prior, options), std::invalid_argument);
        std::filesystem::remove(shard);  // the documented repair
        CHECK(run_campaign(model, prior, options).shards_written == 1);
        CHECK(same_dataset(load_campaign(options.directory), reference));
    }
    SECTION("a shard renamed to another slot fails its header check") {
        std::filesystem::copy_file(campaign_shard_path(options.directory, {1, 0}), shard,
                                   std::filesystem::copy_options::overwrite_existing);
        CHECK_THROWS_WITH(load_campaign(options.directory),
                          Catch::Contains(shard) && Catch::Contains("does not match the manifest"));
    }
    SECTION("a corrupt manifest is named") {
        const std::string manifest =
            (std::filesystem::path(options.directory) / campaign_manifest_name).string();
        std::ofstream(manifest, std::ios::app) << "x";
        CHECK_THROWS_WITH(load_campaign(options.directory), Catch::Contains(manifest));
    }
    SECTION("resuming with other options names the field") {
        CampaignOptions other = options;
        other.generation.seed = 6;
        CHECK_THROWS_WITH(run_campaign(model, prior, other),
                          Catch::Contains("seed differs") && Catch::Contains("manifest"));
        other = options;
        other.generation.samples_per_level[2] = 5;
        CHECK_THROWS_WITH(run_campaign(model, prior, other),
                          Catch::Contains("samples_per_level[2] differs"));
        other = options;
        other.shard_size = 3;
        CHECK_THROWS_WITH(run_campaign(model, prior, other), Catch::Contains("shard_size differs"));
        other = options;
        other.simulator_id = "another simulator";
        CHECK_THROWS_WITH(run_campaign(model, prior, other),
                          Catch::Contains("simulator_id differs"));
        other = options;
        other.generation.threads = 2;  // threads are not part of the campaign
        CHECK(run_campaign(model, prior, other).status == CampaignStatus::complete);
    }
    std::filesystem::remove_all(options.directory);
}

TEST_CASE("run_campaign: a simulator that throws ends the run with a status", "[campaign]") {
    const auto model = throwing_model(2.9);
    const GenerationOptions generation{.samples_per_level = {400}, .seed = 1};
    const CampaignOptions options{
        .generation = generation, .directory = fresh_directory("throws"), .shard_size = 10};
    const CampaignSummary summary = run_campaign(model, prior, options);
    CHECK(summary.status == CampaignStatus::simulation_failed);
    CHECK_THAT(summary.failure,
               Catch::Contains("level 0, sample") && Catch::Contains("solver diverged"));
    CHECK(summary.shards_written < summary.shards_total);
    std::filesystem::remove_all(options.directory);
}

TEST_CASE("CampaignOptions::validate names the field", "[campaign]") {
    const GenerationOptions generation{.samples_per_level = {4}};
    CampaignOptions options{.generation = generation, .directory = "x"};
    CHECK_NOTHROW(options.validate());
    options.shard_size = 0;
    CHECK_THROWS_WITH(options.validate(), Catch::Contains("shard_size"));
    options.shard_size = 1;
    options.directory.clear();
    CHECK_THROWS_WITH(options.validate(), Catch::Contains("directory"));
    options.directory = "x";
    options.simulator_id = "two\nlines";
    CHECK_THROWS_WITH(options.validate(), Catch::Contains("simulator_id"));
    options.simulator_id.clear();
    options.generation.samples_per_level = {0};
    CHECK_THROWS_WITH(options.validate(), Catch::Contains("samples_per_level[0]"));
}

// The child runs the campaign single-threaded (no OpenMP team after fork) and exits without
// unwinding Catch's state.
TEST_CASE("run_campaign: SIGKILL at random moments, repeatedly, then the uninterrupted dataset",
          "[campaign][kill]") {
    const auto model = toy_model(/*extra=*/30, /*nan_above=*/2.0, /*work=*/400);
    const GenerationOptions generation{.samples_per_level = {600, 240, 90},
                                       .seed = 77,
                                       .non_finite = NonFinitePolicy::drop,
                                       .threads = 1};
    const CampaignOptions options{
        .generation = generation, .directory = fresh_directory("kill"), .shard_size = 16};
    // Seeded schedule. Each run is killed once it has finished 1-3 new shards, plus a random
    // 0-400 us (often mid-write): progress-based, so the campaign is interrupted several times
    // however fast or loaded the machine is (a time-based schedule let an idle machine finish
    // before enough kills).
    std::mt19937 kill_points(2024);
    std::uniform_int_distribution<std::size_t> new_shards(1, 3);
    std::uniform_int_distribution<int> extra_us(0, 400);
    std::map<std::string, ino_t> seen;
    Index kills = 0, temporaries_left = 0, restarts = 0;
    bool finished = false;
    while (!finished) {
        REQUIRE(restarts < 500);
        ++restarts;
        const pid_t child = fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            int code = 3;
            try {
                code =
                    run_campaign(model, prior, options).status == CampaignStatus::complete ? 0 : 4;
            } catch (...) {
                code = 2;
            }
            _exit(code);
        }
        const std::size_t target = shard_inodes(options.directory).size() + new_shards(kill_points);
        const int extra = extra_us(kill_points);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        int status = 0;
        bool exited = false;
        while (!exited) {
            exited = waitpid(child, &status, WNOHANG) == child;
            if (exited || shard_inodes(options.directory).size() >= target ||
                std::chrono::steady_clock::now() > deadline)
                break;
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        if (!exited) {
            std::this_thread::sleep_for(std::chrono::microseconds(extra));
            if (waitpid(child, &status, WNOHANG) == 0) {
                ::kill(child, SIGKILL);
                REQUIRE(waitpid(child, &status, 0) == child);
                ++kills;
                temporaries_left += temporaries_in(options.directory);
            }
        }
        if (WIFEXITED(status)) {
            REQUIRE(WEXITSTATUS(status) == 0);
            finished = true;
        } else {
            REQUIRE(WIFSIGNALED(status));
        }
        for (const auto& [name, inode] : shard_inodes(options.directory)) {
            INFO(name << " after restart " << restarts);
            if (seen.count(name) != 0) REQUIRE(seen[name] == inode);  // never recomputed
            seen[name] = inode;
        }
    }
    INFO("kills " << kills << ", kills that left a half-written temporary " << temporaries_left);
    CHECK(kills >= 5);  // the schedule really interrupts the campaign several times
    const MultilevelDataset loaded = load_campaign(options.directory);
    const MultilevelDataset reference =
        generate_multilevel_dataset(model, prior, options.generation);
    CHECK(same_dataset(loaded, reference));
    CHECK(temporaries_in(options.directory) == 0);
    WARN("kill-and-resume: " << restarts << " runs, " << kills << " SIGKILLs, " << temporaries_left
                             << " of them mid-write");
    std::filesystem::remove_all(options.directory);
}
