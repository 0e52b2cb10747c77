// SPDX-License-Identifier: MIT
// Reads the optional CAMELS power spectra (../shared/data/camels, or $MLSBI_SHARED_DATA_DIR/camels)
// into a seed-matched dataset. When the data are absent the test WARNs and requests a skip: the
// process exits with skip_exit_code, which tests/CMakeLists.txt registers as ctest's
// SKIP_RETURN_CODE, so the run shows "Skipped" instead of passing silently.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "mlsbi/io/npy.hpp"
#include "mlsbi/simulators/multilevel_dataset.hpp"
#include "test_skip.hpp"

using namespace mlsbi;

namespace {

std::filesystem::path camels_dir() {
    const char* override_dir = std::getenv("MLSBI_SHARED_DATA_DIR");
    const std::filesystem::path root =
        override_dir != nullptr && *override_dir != '\0' ? override_dir : MLSBI_SHARED_DATA_DIR;
    return root / "camels";
}

bool camels_present() { return std::filesystem::exists(camels_dir() / "x_high.npy"); }

}  // namespace

TEST_CASE("CAMELS power spectra load into a seed-matched dataset (when present)",
          "[io][npy][camels]") {
    const std::filesystem::path dir = camels_dir();
    if (!camels_present()) {
        WARN("CAMELS data not found under " << dir.string() << "; skipped (exit code "
                                            << mlsbi_tests::skip_exit_code << ", ctest: Skipped)");
        mlsbi_tests::request_skip();
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
