// SPDX-License-Identifier: MIT
// Tests for io/npy.hpp: hand-written .npy bytes (v1.0/v2.0, <f8/<f4, C/Fortran order, 1-D/2-D),
// layout (an (n, d) file becomes d x n), round trip with write_npy, clear errors, and the
// distrust of every header field (overflowing shapes, sizes beyond the file, trailing bytes,
// zero-size arrays, corrupted header lengths), and atomic writes. The CAMELS files are read by
// camels_npy.cpp. MLSBI_OWN_TU: it replaces the global operator new, so it is built on its own
// (never in a module's unity translation unit).
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <string>
#include <tuple>
#include <vector>

#include "io_test_support.hpp"
#include "mlsbi/io/npy.hpp"

// GCC 12 flags free() in the replaced operator delete as mismatched with new (it is not: the
// replaced new allocates with malloc).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
// This executable refuses any single allocation above 256 MiB, so a reader that allocates what
// a header declares before comparing it with the file size fails here with std::bad_alloc.
// Every replaceable non-aligned form, so that no allocation mixes these with the sanitizer's.
void* operator new(std::size_t size) {
    if (size > (std::size_t{256} << 20)) throw std::bad_alloc();
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    return size > (std::size_t{256} << 20) ? nullptr : std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
    return operator new(size, tag);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using namespace mlsbi;

namespace {

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() /
            ("mlsbi_test_npy_" + name + "_" + std::to_string(::getpid()) + ".npy"))
        .string();
}

// Writes a .npy file by hand: magic, version, header length, header (padded to 64), data bytes
// less the last `drop_bytes`.
template <typename T>
std::string write_raw(const std::string& name, int major, const std::string& dict,
                      const std::vector<T>& values, std::size_t drop_bytes = 0) {
    const std::string data = io_test::raw_data(values);
    const std::string path = temp_path(name);
    io_test::write_bytes(path,
                         io_test::npy_bytes(major, dict, data.substr(0, data.size() - drop_bytes)));
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

namespace {

const std::string f8_dict = "{'descr': '<f8', 'fortran_order': False, 'shape': ";

// Writes .npy bytes to a scratch file and reads them.
io::NpyArray read_bytes_as_npy(const std::string& name, const std::string& bytes) {
    const auto path = temp_path(name);
    io_test::write_bytes(path, bytes);
    return io::read_npy(path);
}

}  // namespace

TEST_CASE("read_npy: sizes are checked for overflow and against the file", "[io][npy]") {
    const std::string one = io_test::raw_data<double>({1.5});
    // Before: signed overflow in the element count (UBSan).
    CHECK_THROWS_WITH(
        read_bytes_as_npy("overflow",
                          io_test::npy_bytes(1, f8_dict + "(4294967296, 4294967296), }", one)),
        Catch::Contains("has too many elements"));
    // Before: std::length_error.
    CHECK_THROWS_AS(read_bytes_as_npy(
                        "2p61", io_test::npy_bytes(1, f8_dict + "(2305843009213693952,), }", one)),
                    io::FileError);
    CHECK_THROWS_AS(
        read_bytes_as_npy("huge_extent",
                          io_test::npy_bytes(1, f8_dict + "(99999999999999999999999,), }", one)),
        io::FileError);
    // Before: allocated and zeroed 2 GiB before reporting the truncation (here: bad_alloc).
    const std::string small =
        io_test::npy_bytes(1, f8_dict + "(268435456,), }", std::string(120, '\0'));
    REQUIRE(small.size() == 248);
    CHECK_THROWS_WITH(read_bytes_as_npy("declares_2gib", small),
                      Catch::Contains("file truncated: shape (268435456) needs 2147483648 bytes of "
                                      "data, found 120"));
    // Before: a shape smaller than the data loaded, the rest ignored.
    CHECK_THROWS_WITH(
        read_bytes_as_npy("trailing", io_test::npy_bytes(1, f8_dict + "(2,), }",
                                                         io_test::raw_data<double>({1, 2, 3}))),
        Catch::Contains("bytes more (trailing data or corrupt shape)"));
}

TEST_CASE("read_npy: zero-size arrays load as empty", "[io][npy]") {
    // Before: memcpy from a null pointer (UBSan).
    for (const auto& [shape, rows, cols] : std::vector<std::tuple<std::string, Index, Index>>{
             {"(0,)", 1, 0}, {"(0, 3)", 3, 0}, {"(3, 0)", 0, 3}}) {
        INFO("shape " << shape);
        for (const std::string order : {"False", "True"}) {
            const auto path = temp_path("empty");
            io_test::write_bytes(path, io_test::npy_bytes(1,
                                                          "{'descr': '<f4', 'fortran_order': " +
                                                              order + ", 'shape': " + shape + ", }",
                                                          ""));
            CHECK(io::read_npy(path).values.empty());
            const Matrix<double> m = io::read_npy_matrix(path);
            CHECK(m.rows() == rows);
            CHECK(m.cols() == cols);
        }
    }
}

TEST_CASE("read_npy: a corrupted header is detected", "[io][npy]") {
    const std::string good =
        io_test::npy_bytes(1, f8_dict + "(3,), }", io_test::raw_data<double>({1, 2, 3}));
    REQUIRE(read_bytes_as_npy("good", good).values == std::vector<double>{1, 2, 3});
    SECTION("header-length byte off by any amount") {
        // Before: the data shifted and misaligned values loaded.
        for (int delta : {-64, -16, -8, -1, 1, 8, 16, 64}) {
            INFO("delta " << delta);
            std::string bad = good;
            bad[8] = static_cast<char>(static_cast<unsigned char>(bad[8]) + delta);
            CHECK_THROWS_AS(read_bytes_as_npy("length", bad), io::FileError);
        }
        std::string high = good;
        high[9] = 1;  // +256
        CHECK_THROWS_AS(read_bytes_as_npy("length_high", high), io::FileError);
    }
    SECTION("the dictionary must parse exactly") {
        const std::string data = io_test::raw_data<double>({1, 2, 3});
        for (const std::string dict :
             {"{'descr': '<f8', 'fortran_order': False, 'shape': (3), }",
              "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'extra': 1, }",
              "{'descr': '<f8', 'fortran_order': False, }",
              "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
              "{'descr': '<f8', 'fortran_order': Fals, 'shape': (3,), }",
              "{'descr': '<f8', 'fortran_order': False, 'shape': (3,) }x",
              "{'descr': '<f8' 'fortran_order': False, 'shape': (3,), }",
              "{'descr': '<f8', 'fortran_order': False, 'shape': (03,), }",
              "{'descr': '<f8', 'fortran_order': False, 'shape': (-3,), }",
              "{'descr': '<f8', 'fortran_order': False, 'shape': (3,,), }",
              "'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"}) {
            INFO(dict);
            CHECK_THROWS_AS(read_bytes_as_npy("dict", io_test::npy_bytes(1, dict, data)),
                            io::FileError);
        }
        // Python-literal variants NumPy's own reader accepts load the same.
        for (const std::string dict :
             {"{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (3,)}",
              "{'shape': (3,), 'fortran_order': False, 'descr': '<f8'}"}) {
            INFO(dict);
            CHECK(read_bytes_as_npy("dict_ok", io_test::npy_bytes(1, dict, data)).values ==
                  std::vector<double>{1, 2, 3});
        }
        // Padding other than spaces before the final newline, or no final newline.
        std::string tab = good;
        tab[good.find('\n') - 1] = '\t';
        CHECK_THROWS_AS(read_bytes_as_npy("pad", tab), io::FileError);
        std::string no_newline = good;
        no_newline[good.find('\n')] = ' ';
        CHECK_THROWS_WITH(read_bytes_as_npy("newline", no_newline), Catch::Contains("newline"));
        std::string minor = good;
        minor[7] = 1;
        CHECK_THROWS_WITH(read_bytes_as_npy("minor", minor),
                          Catch::Contains("unsupported .npy version 1.1"));
    }
}

TEST_CASE("write_npy replaces a file atomically or not at all", "[io][npy]") {
    const auto dir = io_test::scratch_dir("npy_atomic");
    const std::string path = (dir / "x.npy").string();
    const Matrix<double> small = Matrix<double>::Constant(2, 3, 1.5);
    io::write_npy(path, small);
    const std::string previous = io_test::read_bytes(path);
    // A file-size limit of 512 bytes makes the write of 64 x 64 doubles fail with EFBIG, as a
    // full disk would; the previous file must stay byte-identical and no temporary may remain.
    CHECK(io_test::exit_code_under_file_size_limit(
              512, "", [&] { io::write_npy(path, Matrix<double>::Ones(64, 64)); }) == 0);
    CHECK(io_test::read_bytes(path) == previous);
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++entries;
    CHECK(entries == 1);
    CHECK(io::read_npy_matrix(path) == small);
    // A folder in the way is refused with the documented type.
    std::filesystem::create_directory(dir / "folder");
    CHECK_THROWS_AS(io::write_npy((dir / "folder").string(), small), io::FileError);
    std::filesystem::remove_all(dir);
}
