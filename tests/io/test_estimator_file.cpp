// SPDX-License-Identifier: MIT
// Tests for io/estimator_file.hpp: exact round trip, float<->double, clear errors on mismatch;
// format version 2 (checksum), version-1 files, finiteness, sizes checked before allocation,
// atomic saves (a simulated full disk leaves the previous file byte-identical).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <streambuf>

#include "io_test_support.hpp"
#include "mlsbi/flows/diagonal_gaussian.hpp"
#include "mlsbi/io/estimator_file.hpp"

using namespace mlsbi;

namespace {
using DensityD = flows::DiagonalGaussian<double>;
using EstimatorD = flows::ConditionalEstimator<DensityD>;

const DensityD::Options options{.input_dim = 2, .context_dim = 3, .hidden = {6, 5}};

EstimatorD trained_like(std::uint64_t seed) {
    EstimatorD est(options, seed);
    Matrix<double> y(2, 3), c(3, 3);
    y << 1, 2, 4, -1, 0, 3;
    c << 0.5, 0.25, 1, 7, 8, 9.5, -3, 2, 2;
    est.fit_standardization(y, c);
    return est;
}
}  // namespace

TEST_CASE("save then load reproduces the estimator exactly", "[io]") {
    const EstimatorD original = trained_like(3);
    std::stringstream file;
    io::save_estimator(original, file);
    EstimatorD restored(DensityD::Options{.input_dim = 2, .context_dim = 3, .hidden = {6, 5}}, 99);
    REQUIRE(restored.parameters() != original.parameters());
    io::load_estimator(restored, file);
    CHECK(restored.parameters() == original.parameters());
    CHECK(restored.input_standardizer().mean() == original.input_standardizer().mean());
    CHECK(restored.context_standardizer().scale() == original.context_standardizer().scale());
    Matrix<double> y(2, 2), c(3, 2);
    y << 0.1, 0.2, 0.3, 0.4;
    c << 1, 2, 3, 4, 5, 6;
    CHECK(restored.log_prob(y, c) == original.log_prob(y, c));
}

TEST_CASE("a double file loads into a float estimator", "[io]") {
    const EstimatorD original = trained_like(4);
    std::stringstream file;
    io::save_estimator(original, file);
    using DensityF = flows::DiagonalGaussian<float>;
    flows::ConditionalEstimator<DensityF> restored(
        DensityF::Options{.input_dim = 2, .context_dim = 3, .hidden = {6, 5}});
    io::load_estimator(restored, file);
    CHECK((restored.parameters().cast<double>() - original.parameters()).cwiseAbs().maxCoeff() <
          1e-6);
}

TEST_CASE("loading into a mismatched architecture fails clearly", "[io]") {
    const EstimatorD original = trained_like(5);
    std::stringstream file;
    io::save_estimator(original, file);
    const std::string text = file.str();
    EstimatorD other(DensityD::Options{.input_dim = 2, .context_dim = 3, .hidden = {6, 6}});
    const auto before = other.parameters();
    std::stringstream in(text);
    CHECK_THROWS_WITH(io::load_estimator(other, in), Catch::Contains("architecture mismatch"));
    CHECK(other.parameters() == before);

    EstimatorD same(DensityD::Options{.input_dim = 2, .context_dim = 3, .hidden = {6, 5}});
    std::stringstream truncated(text.substr(0, text.size() / 2));
    CHECK_THROWS(io::load_estimator(same, truncated));
    std::stringstream wrong_version("mlsbi-estimator 7\n");
    CHECK_THROWS_WITH(io::load_estimator(same, wrong_version), Catch::Contains("version 7"));
    std::stringstream garbage("hello world");
    CHECK_THROWS_WITH(io::load_estimator(same, garbage), Catch::Contains("not an mlsbi estimator"));
}

namespace {

using io_test::as_version_1;
using io_test::replaced;
using io_test::reseal;
using io_test::saved_text;

// Loads `text` into a fresh estimator; on failure checks it is unchanged and rethrows.
void load_text(const std::string& text) {
    EstimatorD target(options, 77);
    const Vector<double> before = target.parameters();
    std::istringstream in(text);
    try {
        io::load_estimator(target, in);
    } catch (...) {
        CHECK(target.parameters() == before);
        throw;
    }
}

// The first parameter value line of a saved text.
std::string first_parameter(const std::string& text) {
    const std::size_t at = text.find('\n', text.find("\nparameters ") + 1) + 1;
    return text.substr(at, text.find('\n', at) - at);
}

}  // namespace

TEST_CASE("version 2 carries a checksum that catches a changed weight", "[io]") {
    const std::string text = saved_text(trained_like(3));
    CHECK(text.rfind("mlsbi-estimator 2\n", 0) == 0);
    const std::size_t crc_line = text.rfind("crc32 ");
    REQUIRE(crc_line != std::string::npos);
    CHECK(text.size() - crc_line == 15);  // "crc32 " + 8 hex digits + '\n'
    CHECK(reseal(text) == text);
    CHECK_NOTHROW(load_text(text));

    // Before version 2 this loaded silently different weights.
    const std::string weight = first_parameter(text);
    std::string changed_digit = weight;
    changed_digit[weight.size() - 5] = changed_digit[weight.size() - 5] == '1' ? '2' : '1';
    const std::string corrupt = replaced(text, "\n" + weight + "\n", "\n" + changed_digit + "\n");
    CHECK_THROWS_AS(load_text(corrupt), io::FileError);
    CHECK_THROWS_WITH(load_text(corrupt), Catch::Contains("checksum mismatch"));
    // Cut just before the checksum line, or the checksum itself changed.
    CHECK_THROWS_WITH(load_text(text.substr(0, crc_line)), Catch::Contains("checksum line"));
    CHECK_THROWS_WITH(load_text(replaced(text, "crc32 ", "crc32 0")), Catch::Contains("checksum"));
    // FileError is a std::invalid_argument, as load_estimator documented before it existed.
    CHECK_THROWS_AS(load_text(corrupt), std::invalid_argument);
}

TEST_CASE("version-1 files still load", "[io]") {
    SECTION("the file the version-1 writer produced (tests/data)") {
        const std::string text =
            io_test::read_bytes(std::string(MLSBI_TEST_DATA_DIR) + "/estimator_v1_gaussian.txt");
        REQUIRE(text.rfind("mlsbi-estimator 1\n", 0) == 0);
        flows::ConditionalEstimator<DensityD> est(
            DensityD::Options{.input_dim = 2, .context_dim = 3, .hidden = {4}}, 5);
        std::istringstream in(text);
        io::load_estimator(est, in);
        // The values are those written, parsed independently.
        CHECK(est.parameters()(0) == std::strtod(first_parameter(text).c_str(), nullptr));
        CHECK(est.input_standardizer().mean()(0) == std::strtod("0x1.2aaaaaaaaaaabp+1", nullptr));
        CHECK(est.parameters().allFinite());
        // Re-saved as version 2, it loads back identically.
        const std::string again = saved_text(est);
        CHECK(again.rfind("mlsbi-estimator 2\n", 0) == 0);
        CHECK(as_version_1(again) == text);
    }
    SECTION("written with the version-1 layout") {
        const EstimatorD original = trained_like(8);
        EstimatorD restored(options, 99);
        std::istringstream in(as_version_1(saved_text(original)));
        io::load_estimator(restored, in);
        CHECK(restored.parameters() == original.parameters());
        CHECK(restored.context_standardizer().mean() == original.context_standardizer().mean());
    }
}

TEST_CASE("non-finite or out-of-range values are refused", "[io]") {
    const std::string text = saved_text(trained_like(3));
    const std::string weight = first_parameter(text);
    for (const std::string bad :
         {"nan", "-nan", "inf", "-inf", "1e400", "-1e400", "0x1p+2000", "infinity", "NAN"}) {
        INFO("value " << bad);
        const std::string v1 =
            replaced(as_version_1(text), "\n" + weight + "\n", "\n" + bad + "\n");
        // Before: loaded, and log_prob then returned NaN.
        CHECK_THROWS_AS(load_text(v1), io::FileError);
        const std::string v2 = reseal(replaced(text, "\n" + weight + "\n", "\n" + bad + "\n"));
        CHECK_THROWS_AS(load_text(v2), io::FileError);
        // In a standardizer too.
        const std::string mean = replaced(as_version_1(text), "input_standardizer 2 ",
                                          "input_standardizer 2 " + bad + " ");
        CHECK_THROWS_AS(load_text(mean), io::FileError);
    }
    CHECK_THROWS_WITH(load_text(replaced(as_version_1(text), "\n" + weight + "\n", "\nnan\n")),
                      Catch::Contains("non-finite value 'nan' in parameters"));
    CHECK_THROWS_WITH(load_text(replaced(as_version_1(text), "\n" + weight + "\n", "\n1e400\n")),
                      Catch::Contains("out of range"));
    // Finite in double but not in float: refused by a float estimator, not turned into inf.
    const std::string huge = replaced(as_version_1(text), "\n" + weight + "\n", "\n0x1p+200\n");
    CHECK_NOTHROW(load_text(huge));
    using DensityF = flows::DiagonalGaussian<float>;
    flows::ConditionalEstimator<DensityF> single(
        DensityF::Options{.input_dim = 2, .context_dim = 3, .hidden = {6, 5}});
    std::istringstream in(huge);
    CHECK_THROWS_WITH(io::load_estimator(single, in),
                      Catch::Contains("overflows the receiving float"));
    // A scale must be positive (the last value of the line is scale[1]).
    std::string v1 = as_version_1(text);
    const std::size_t line = v1.find("input_standardizer 2 ");
    const std::size_t line_end = v1.find('\n', line);
    const std::size_t last = v1.rfind(' ', line_end);
    v1.replace(last + 1, line_end - last - 1, "-0x1p+0");
    CHECK_THROWS_WITH(load_text(v1), Catch::Contains("scale[1] must be positive"));
}

TEST_CASE("absurd sizes give a clean error before any allocation", "[io]") {
    const std::string text = saved_text(trained_like(3));
    // Before: std::bad_alloc (an ASan abort) for 1e18 and 2^62 dimensions.
    for (const std::string dim :
         {"1000000000000000000", "4611686018427387904", "18446744073709551615",
          "99999999999999999999999", "1e18", "-2", "0x10", "3"}) {
        INFO("dimension " << dim);
        for (const std::string& base : {as_version_1(text), text}) {
            std::string bad =
                replaced(base, "input_standardizer 2 ", "input_standardizer " + dim + " ");
            bad = base == text ? reseal(bad) : bad;
            CHECK_THROWS_AS(load_text(bad), io::FileError);
            std::string count = replaced(base, "\nparameters ", "\nparameters " + dim);
            count = base == text ? reseal(count) : count;
            CHECK_THROWS_AS(load_text(count), io::FileError);
        }
    }
    CHECK_THROWS_WITH(
        load_text(replaced(as_version_1(text), "input_standardizer 2 ",
                           "input_standardizer 4611686018427387904 ")),
        Catch::Contains("input_standardizer has size 4611686018427387904 in the file, "
                        "the receiving estimator has 2"));
    // The right count, but the values are missing ('end' kept): refused from the bytes left.
    std::string v1 = as_version_1(text);
    const std::size_t first = v1.find('\n', v1.find("\nparameters ") + 1) + 1;
    v1.erase(first, v1.rfind("end\n") - first);
    CHECK_THROWS_WITH(load_text(v1), Catch::Contains("bytes left (truncated file?)"));
}

TEST_CASE("a file must end with its model; a stream may hold several", "[io]") {
    const auto dir = io_test::scratch_dir("trailing");
    const EstimatorD a = trained_like(3), b = trained_like(4);
    const std::string path = (dir / "model.txt").string();
    io_test::write_bytes(path, saved_text(a) + "x");
    EstimatorD target(options, 7);
    CHECK_THROWS_WITH(io::load_estimator(target, path), Catch::Contains("bytes after the end"));
    io_test::write_bytes(path, as_version_1(saved_text(a)) + "\n");
    CHECK_THROWS_WITH(io::load_estimator(target, path), Catch::Contains("bytes after the end"));

    std::stringstream both;
    io::save_estimator(a, both);
    io::save_estimator(b, both);
    io::load_estimator(target, both);
    CHECK(target.parameters() == a.parameters());
    io::load_estimator(target, both);
    CHECK(target.parameters() == b.parameters());
    std::filesystem::remove_all(dir);
}

namespace {

// A stream buffer that takes `capacity` bytes, then reports a failure at the next flush, as a
// file on a full disk does (the data sit in the buffer until then).
class FullDiskBuffer : public std::streambuf {
public:
    explicit FullDiskBuffer(std::size_t capacity) : m_buffer(capacity) {
        setp(m_buffer.data(), m_buffer.data() + m_buffer.size());
    }

protected:
    int_type overflow(int_type) override { return traits_type::eof(); }
    int sync() override { return -1; }

private:
    std::vector<char> m_buffer;
};

std::vector<std::string> folder_entries(const std::filesystem::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

TEST_CASE("save_estimator to a stream reports a failure that shows only at the flush", "[io]") {
    // Before: the stream was checked before it was flushed, so this returned normally.
    FullDiskBuffer buffer(1 << 16);
    std::ostream out(&buffer);
    CHECK_THROWS_AS(io::save_estimator(trained_like(3), out), io::FileError);
}

TEST_CASE("saving to a file is atomic", "[io]") {
    const auto dir = io_test::scratch_dir("atomic");
    const std::string path = (dir / "model.txt").string();
    const EstimatorD first = trained_like(3), second = trained_like(4);
    io::save_estimator(first, path);
    CHECK(folder_entries(dir) == std::vector<std::string>{"model.txt"});
    const std::string previous = io_test::read_bytes(path);
    CHECK(previous == saved_text(first));

    SECTION("a successful save replaces the file and leaves no temporary") {
        io::save_estimator(second, path);
        CHECK(io_test::read_bytes(path) == saved_text(second));
        CHECK(folder_entries(dir) == std::vector<std::string>{"model.txt"});
    }
    SECTION("a full disk (file-size limit) leaves the previous file byte-identical") {
        // The child may write at most 512 bytes per file; the write fails with EFBIG (SIGXFSZ
        // ignored), as on a full disk. A bigger model so the failure is not at the last byte.
        const EstimatorD big(
            DensityD::Options{.input_dim = 2, .context_dim = 3, .hidden = {32, 32}}, 5);
        REQUIRE(saved_text(big).size() > 8192);
        CHECK(io_test::exit_code_under_file_size_limit(
                  512, "previous file, if any, is unchanged",
                  [&] { io::save_estimator(big, path); }) == 0);
        CHECK(io_test::read_bytes(path) == previous);
        CHECK(folder_entries(dir) == std::vector<std::string>{"model.txt"});
    }
    SECTION("a target that is a folder, or in a missing folder, is refused cleanly") {
        std::filesystem::create_directory(dir / "folder");
        CHECK_THROWS_WITH(io::save_estimator(second, (dir / "folder").string()),
                          Catch::Contains("not a regular file"));
        CHECK_THROWS_AS(io::save_estimator(second, (dir / "missing" / "m.txt").string()),
                        io::FileError);
        CHECK(folder_entries(dir) == std::vector<std::string>{"folder", "model.txt"});
        CHECK(io_test::read_bytes(path) == previous);
    }
    SECTION("a symbolic link keeps pointing at the saved model") {
        std::filesystem::create_symlink(path, dir / "link.txt");
        io::save_estimator(second, (dir / "link.txt").string());
        CHECK(std::filesystem::is_symlink(dir / "link.txt"));
        CHECK(io_test::read_bytes(path) == saved_text(second));
    }
    std::filesystem::remove_all(dir);
}
