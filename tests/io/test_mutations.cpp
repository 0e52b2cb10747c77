// SPDX-License-Identifier: MIT
// Mutation tests for io/: deterministic single-byte mutations (random byte values and bit
// flips) and every truncation point of saved estimators (a small MAF in double, an MDN in
// float; format 2, and format 1 for the parser without a checksum) and of .npy files (1-D and
// 2-D, '<f4' and '<f8', C and Fortran order, versions 1.0 to 3.0). Every mutated file must give
// io::FileError, leaving the destination unchanged, or load a result verified identical to the
// original; any other exception fails the test, and the sanitizer build catches the rest. Only
// where a format has no redundancy is a different load expected, and then verified exactly: a
// changed .npy data byte must load that one changed value, a version-1 model must load finite
// values. The counts are printed (run the executable directly to see them).
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "mlsbi/flows/maf.hpp"
#include "mlsbi/flows/mixture_density_network.hpp"
#include "mlsbi/io/estimator_file.hpp"
#include "mlsbi/io/npy.hpp"

using namespace mlsbi;

namespace {

enum class Outcome { error, identical, different };

struct Counts {
    long mutations = 0, mutation_errors = 0, mutation_identical = 0, mutation_different = 0;
    long truncations = 0, truncation_errors = 0, truncation_identical = 0;

    void add(Outcome outcome, bool truncated) {
        long& tried = truncated ? truncations : mutations;
        ++tried;
        if (outcome == Outcome::error) ++(truncated ? truncation_errors : mutation_errors);
        if (outcome == Outcome::identical)
            ++(truncated ? truncation_identical : mutation_identical);
        if (outcome == Outcome::different) {
            REQUIRE_FALSE(truncated);  // a truncated file never loads something else
            ++mutation_different;
        }
    }
    void print(const char* kind, const char* different_means) const {
        std::printf(
            "mutation test %-34s mutations %5ld: errors %5ld, identical loads %4ld, %s "
            "%4ld | truncations %5ld: errors %5ld, identical loads %ld\n",
            kind, mutations, mutation_errors, mutation_identical, different_means,
            mutation_different, truncations, truncation_errors, truncation_identical);
    }
};

// `random_values` mutations setting a random byte to a different random value and `bit_flips`
// single-bit flips at random positions (fixed seed), then every truncation point.
void mutate_all(const std::string& original, std::uint64_t seed, int random_values, int bit_flips,
                const std::function<Outcome(const std::string&, std::size_t)>& load,
                Counts& counts) {
    std::mt19937_64 rng(seed);  // the raw engine output is specified: the same on every platform
    for (int i = 0; i < random_values + bit_flips; ++i) {
        const std::size_t at = rng() % original.size();
        const auto old_byte = static_cast<unsigned char>(original[at]);
        const auto new_byte = static_cast<unsigned char>(
            i < random_values ? (old_byte + 1 + rng() % 255) & 0xff : old_byte ^ (1u << rng() % 8));
        std::string mutated = original;
        mutated[at] = static_cast<char>(new_byte);
        INFO("mutation " << i << ": byte " << at << " from " << int(old_byte) << " to "
                         << int(new_byte));
        counts.add(load(mutated, at), false);
    }
    for (std::size_t length = 0; length < original.size(); ++length) {
        INFO("truncated to " << length << " of " << original.size() << " bytes");
        counts.add(load(original.substr(0, length), original.size()), true);
    }
}

bool same_bits(double a, double b) {
    return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

// Loads `bytes` into a copy of `blank`: io::FileError must leave the copy unchanged; a success
// is compared exactly with `original`. In memory (thousands of rewritten small files cost a
// minute of disk flushes on ext4), through the stream loader with the whole-file check of
// load_estimator(path).
template <class Estimator>
Outcome load_model(const std::string& name, const std::string& bytes, const Estimator& blank,
                   const Estimator& original) {
    Estimator target = blank;
    try {
        std::istringstream in(bytes);
        io::detail::load_estimator_from(target, in, &name);
    } catch (const io::FileError&) {
        REQUIRE(target.parameters() == blank.parameters());
        REQUIRE(target.input_standardizer().mean() == blank.input_standardizer().mean());
        return Outcome::error;
    }
    REQUIRE(target.parameters().allFinite());
    const bool identical =
        target.parameters() == original.parameters() &&
        target.input_standardizer().mean() == original.input_standardizer().mean() &&
        target.input_standardizer().scale() == original.input_standardizer().scale() &&
        target.context_standardizer().mean() == original.context_standardizer().mean() &&
        target.context_standardizer().scale() == original.context_standardizer().scale();
    return identical ? Outcome::identical : Outcome::different;
}

template <class Estimator>
void check_model_mutations(const char* kind, const Estimator& original, const Estimator& blank,
                           std::uint64_t seed) {
    const std::string name = "model.txt";
    const std::string text = io_test::saved_text(original);
    REQUIRE(load_model(name, text, blank, original) == Outcome::identical);
    auto load = [&](const std::string& bytes, std::size_t) {
        return load_model(name, bytes, blank, original);
    };

    Counts v2;
    mutate_all(text, seed, 1500, 1500, load, v2);
    v2.print((std::string(kind) + " format 2").c_str(), "different loads");
    CHECK(v2.mutation_different == 0);  // the checksum catches every single-byte change
    CHECK(v2.truncation_identical == 0);
    CHECK(v2.mutations == 3000);
    CHECK(v2.truncations == static_cast<long>(text.size()));

    // Format 1 has no checksum: a changed digit is a different valid model. What must hold is
    // the rest: never a crash or another exception, finite values, an unchanged estimator on
    // error.
    const std::string v1 = io_test::as_version_1(text);
    REQUIRE(load_model(name, v1, blank, original) == Outcome::identical);
    Counts legacy;
    mutate_all(v1, seed + 1, 500, 500, load, legacy);
    legacy.print((std::string(kind) + " format 1 (no checksum)").c_str(), "finite different");
    CHECK(legacy.truncation_identical <= 1);  // only the cut of the final newline
    // One real file through load_estimator(path).
    const auto dir = io_test::scratch_dir(std::string("mutations_") + kind);
    io::save_estimator(original, (dir / "model.txt").string());
    Estimator target = blank;
    io::load_estimator(target, (dir / "model.txt").string());
    CHECK(target.parameters() == original.parameters());
    std::filesystem::remove_all(dir);
}

}  // namespace

TEST_CASE("mutated and truncated model files give FileError or an identical load",
          "[io][mutation]") {
    SECTION("MAF, double") {
        using Flow = flows::MaskedAutoregressiveFlow<double>;
        using Estimator = flows::ConditionalEstimator<Flow>;
        const Flow::Options options{
            .input_dim = 2, .context_dim = 2, .transforms = 2, .hidden = 4, .blocks = 0};
        Estimator original(options, 1);
        Matrix<double> y(2, 4), c(2, 4);
        y << 1, 2, 4, 3, -1, 0, 3, 5;
        c << 0.5, 0.25, 1, 2, 7, 8, 9.5, 6;
        original.fit_standardization(y, c);
        check_model_mutations("MAF double", original, Estimator(options, 2), 1001);
    }
    SECTION("MDN, float") {
        using Mdn = flows::MixtureDensityNetwork<float>;
        using Estimator = flows::ConditionalEstimator<Mdn>;
        const Mdn::Options options{
            .input_dim = 1, .context_dim = 2, .components = 2, .hidden = {4}};
        Estimator original(options, 3);
        Matrix<float> y(1, 3), c(2, 3);
        y << 1, 2, 4;
        c << 0.5f, 0.25f, 1, 7, 8, 9.5f;
        original.fit_standardization(y, c);
        check_model_mutations("MDN float", original, Estimator(options, 4), 2002);
    }
}

namespace {

struct NpyCase {
    const char* kind;
    int major;
    std::string descr;
    bool fortran;
    std::vector<std::uint64_t> shape;
};

// The values of case k: distinct, exactly representable in float.
std::vector<double> npy_values(std::size_t count) {
    std::vector<double> values(count);
    for (std::size_t i = 0; i < count; ++i) values[i] = 0.25 * static_cast<double>(i) - 1.5;
    return values;
}

}  // namespace

TEST_CASE("mutated and truncated .npy files give FileError, an identical or a verified load",
          "[io][mutation][npy]") {
    const std::vector<NpyCase> cases = {
        {"npy 1-D <f8 C v1.0", 1, "<f8", false, {5}},
        {"npy 2-D <f4 C v1.0", 1, "<f4", false, {3, 4}},
        {"npy 2-D <f8 Fortran v1.0", 1, "<f8", true, {4, 3}},
        {"npy 2-D <f4 Fortran v2.0", 2, "<f4", true, {2, 3}},
        {"npy 1-D <f4 C v3.0", 3, "<f4", false, {7}},
        {"npy 2-D <f8 C (write_npy)", 0, "<f8", false, {6, 2}},
    };
    const auto dir = io_test::scratch_dir("mutations_npy");
    const std::string path = (dir / "array.npy").string();
    std::uint64_t seed = 3003;
    for (const NpyCase& test : cases) {
        INFO(test.kind);
        std::uint64_t count = 1;
        for (const std::uint64_t extent : test.shape) count *= extent;
        const std::vector<double> values = npy_values(count);
        const std::size_t item = test.descr == "<f8" ? 8 : 4;
        std::string original;
        if (test.major == 0) {
            // write_npy takes the d x n batch whose C-order (n, d) file holds `values`.
            Matrix<double> batch(static_cast<Index>(test.shape[1]),
                                 static_cast<Index>(test.shape[0]));
            std::memcpy(batch.data(), values.data(), values.size() * sizeof(double));
            io::write_npy(path, batch);
            original = io_test::read_bytes(path);
        } else {
            // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "(" + string.
            std::string shape(1, '(');
            shape.append(std::to_string(test.shape[0]));
            if (test.shape.size() == 1)
                shape.append(",)");
            else
                shape.append(", ").append(std::to_string(test.shape[1])).append(")");
            const std::string dict = "{'descr': '" + test.descr +
                                     "', 'fortran_order': " + (test.fortran ? "True" : "False") +
                                     ", 'shape': " + shape + ", }";
            const std::string data =
                item == 8 ? io_test::raw_data(values)
                          : io_test::raw_data(std::vector<float>(values.begin(), values.end()));
            original = io_test::npy_bytes(test.major, dict, data);
        }
        const std::size_t data_offset = original.size() - count * item;

        auto load = [&](const std::string& bytes, std::size_t at) {
            io::NpyArray array;
            try {
                std::istringstream in(bytes);
                array = io::read_npy(in, test.kind);
                std::istringstream again(bytes);
                const Matrix<double> batch = io::read_npy_matrix(again, test.kind);
                REQUIRE(batch.size() == static_cast<Index>(count));
            } catch (const io::FileError&) {
                return Outcome::error;
            }
            REQUIRE(array.values.size() == count);
            REQUIRE(array.shape == std::vector<Index>(test.shape.begin(), test.shape.end()));
            REQUIRE(array.fortran_order == test.fortran);
            // A changed data byte loads exactly that changed element, nothing else moves.
            std::vector<double> expected = values;
            if (at >= data_offset && at < original.size()) {
                const std::size_t k = (at - data_offset) / item;
                if (item == 8) {
                    std::memcpy(&expected[k], bytes.data() + data_offset + 8 * k, 8);
                } else {
                    float single = 0;
                    std::memcpy(&single, bytes.data() + data_offset + 4 * k, 4);
                    expected[k] = single;
                }
            }
            for (std::size_t i = 0; i < count; ++i) {
                INFO("element " << i);
                REQUIRE((same_bits(array.values[i], expected[i]) ||
                         (std::isnan(array.values[i]) && std::isnan(expected[i]))));
            }
            return at >= data_offset && at < original.size() ? Outcome::different
                                                             : Outcome::identical;
        };
        REQUIRE(load(original, original.size()) == Outcome::identical);
        Counts counts;
        mutate_all(original, seed++, 600, 600, load, counts);
        counts.print(test.kind, "data-byte loads verified");
        CHECK(counts.truncation_errors == counts.truncations);
        CHECK(counts.mutations == 1200);
    }
    std::filesystem::remove_all(dir);
}
