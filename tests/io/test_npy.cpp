// SPDX-License-Identifier: MIT
// Tests for io/npy.hpp: hand-written .npy bytes (v1.0/v2.0, <f8/<f4, C/Fortran order, 1-D/2-D),
// layout (an (n, d) file becomes d x n), round trip with write_npy, clear errors, and, when the
// shared CAMELS files are present, reading them into a seed-matched dataset.
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mlsbi/io/npy.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"

using namespace mlsbi;

namespace {

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("mlsbi_test_npy_" + name + ".npy")).string();
}

// Writes a .npy file by hand: magic, version, header length, header (padded to 64), data bytes.
template <typename T>
std::string write_raw(const std::string& name, int major, const std::string& dict,
                      const std::vector<T>& values, std::size_t drop_bytes = 0) {
    std::string header = dict;
    const std::size_t prefix = major == 1 ? 10 : 12;
    while ((prefix + header.size() + 1) % 64 != 0) header.push_back(' ');
    header.push_back('\n');
    std::string bytes = "\x93NUMPY";
    bytes.push_back(static_cast<char>(major));
    bytes.push_back('\0');
    const auto length = static_cast<std::uint32_t>(header.size());
    bytes.push_back(static_cast<char>(length & 0xff));
    bytes.push_back(static_cast<char>((length >> 8) & 0xff));
    if (major != 1) {
        bytes.push_back(static_cast<char>((length >> 16) & 0xff));
        bytes.push_back(static_cast<char>((length >> 24) & 0xff));
    }
    bytes += header;
    std::string data(values.size() * sizeof(T), '\0');
    std::memcpy(data.data(), values.data(), data.size());
    bytes += data.substr(0, data.size() - drop_bytes);
    const std::string path = temp_path(name);
    std::ofstream(path, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
}

}  // namespace

TEST_CASE("read_npy_matrix: layouts and dtypes", "[io][npy]") {
    SECTION("v1.0 <f8 C order (2, 3) becomes 3 x 2, one sample per column") {
        const auto path = write_raw<double>(
            "c_f8", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
            {1, 2, 3, 4, 5, 6});
        const Matrix<double> m = io::read_npy_matrix(path);
        REQUIRE(m.rows() == 3);
        REQUIRE(m.cols() == 2);
        CHECK(m(0, 0) == 1);
        CHECK(m(2, 0) == 3);  // sample 0 = file row 0 = (1, 2, 3)
        CHECK(m(0, 1) == 4);
        CHECK(m(2, 1) == 6);
        const io::NpyArray raw = io::read_npy(path);
        CHECK(raw.shape == std::vector<Index>{2, 3});
        CHECK_FALSE(raw.fortran_order);
    }
    SECTION("v2.0 <f4 1-D (4,) becomes 1 x 4") {
        const auto path = write_raw<float>(
            "v2_f4", 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
            {0.5f, -1.25f, 3.0f, 1e-3f});
        const Matrix<double> m = io::read_npy_matrix(path);
        REQUIRE(m.rows() == 1);
        REQUIRE(m.cols() == 4);
        CHECK(m(0, 1) == -1.25);
        CHECK(m(0, 3) == static_cast<double>(1e-3f));
    }
    SECTION("Fortran order (2, 3) gives the same matrix as C order") {
        // Column-major storage of [[1, 2, 3], [4, 5, 6]].
        const auto path = write_raw<double>(
            "f_f8", 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
            {1, 4, 2, 5, 3, 6});
        Matrix<double> expected(3, 2);
        expected << 1, 4, 2, 5, 3, 6;
        CHECK(io::read_npy_matrix(path) == expected);
    }
    SECTION("write_npy round trip, and the bytes NumPy expects") {
        Matrix<double> m(39, 5);
        for (Index j = 0; j < 5; ++j)
            for (Index i = 0; i < 39; ++i) m(i, j) = 0.1 * i - 3.0 * j;
        const auto path = temp_path("roundtrip");
        io::write_npy(path, m);
        CHECK(io::read_npy_matrix(path) == m);
        const io::NpyArray raw = io::read_npy(path);
        CHECK(raw.shape == std::vector<Index>{5, 39});                      // (n, d) on disk
        CHECK(std::filesystem::file_size(path) % 64 == (5 * 39 * 8) % 64);  // header 64-aligned
    }
}

TEST_CASE("read_npy: clear errors", "[io][npy]") {
    CHECK_THROWS_WITH(io::read_npy("/nonexistent/x.npy"),
                      Catch::Contains("read_npy: /nonexistent/x.npy: cannot open file"));
    const auto text = temp_path("text");
    std::ofstream(text) << "hello, not numpy";
    CHECK_THROWS_WITH(io::read_npy(text), Catch::Contains("not a .npy file"));
    CHECK_THROWS_WITH(
        io::read_npy(write_raw<double>(
            "big", 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", {1})),
        Catch::Contains("unsupported dtype '>f8'"));
    CHECK_THROWS_WITH(
        io::read_npy(write_raw<std::int64_t>(
            "int", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", {1})),
        Catch::Contains("unsupported dtype '<i8'"));
    CHECK_THROWS_WITH(
        io::read_npy(write_raw<double>(
            "3d", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 2), }", {1, 2})),
        Catch::Contains("need a 1-D or 2-D array, got 3 dimensions"));
    CHECK_THROWS_WITH(io::read_npy(write_raw<double>(
                          "0d", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", {1})),
                      Catch::Contains("got 0 dimensions"));
    CHECK_THROWS_WITH(
        io::read_npy(write_raw<double>(
            "short", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", {1, 2, 3, 4},
            5)),
        Catch::Contains("file truncated: shape (2, 2) needs 32 bytes of data, found 27"));
}

TEST_CASE("CAMELS power spectra load into a seed-matched dataset (when present)",
          "[io][npy][camels]") {
    const std::filesystem::path dir = std::filesystem::path(MLSBI_SHARED_DATA_DIR) / "camels";
    if (!std::filesystem::exists(dir / "x_high.npy")) {
        WARN("CAMELS data not found under " << dir.string() << "; skipped");
        return;
    }
    const Matrix<double> high = io::read_npy_matrix((dir / "x_high.npy").string());
    const Matrix<double> low = io::read_npy_matrix((dir / "x_low.npy").string());
    const Matrix<double> params =
        io::read_npy_matrix((dir / "pk_params_omega_m_sigma_8.npy").string());
    REQUIRE(high.rows() == 39);
    REQUIRE(high.cols() == 1000);
    REQUIRE(low.rows() == 39);
    REQUIRE(params.rows() == 2);
    CHECK(high.allFinite());
    CHECK((params.row(1).array() >= 0.6 - 1e-9).all());  // sigma_8 in [0.6, 1.0]
    CHECK((params.row(1).array() <= 1.0 + 1e-9).all());

    // The published split: pairs = rows 0..19, level 0 = low rows 20..999.
    std::vector<simulators::LevelData> levels(2);
    levels[0].theta = params.row(1).segment(20, 980);
    levels[0].x_fine = low.middleCols(20, 980);
    levels[1].theta = params.row(1).head(20);
    levels[1].x_fine = high.leftCols(20);
    levels[1].x_coarse = low.leftCols(20);
    const simulators::MultilevelDataset data = simulators::dataset_from_arrays(std::move(levels));
    CHECK(data.levels[0].size() == 980);
    CHECK(data.levels[1].size() == 20);
}
