# SPDX-License-Identifier: MIT
#[=======================================================================[.rst:
FindRandom123
-------------

Finds the header-only Random123 library (counter-based random number generators of Salmon et al.,
SC'11; Debian/Ubuntu package ``librandom123-dev``).

Imported target: ``Random123::Random123`` (INTERFACE, include directory only).

Result variables: ``Random123_FOUND``, ``Random123_INCLUDE_DIR`` (the directory that holds
``Random123/philox.h``; set it by hand for a non-standard location).
#]=======================================================================]

find_path(Random123_INCLUDE_DIR
    NAMES Random123/philox.h
    DOC "Directory containing Random123/philox.h (Debian: librandom123-dev)")
mark_as_advanced(Random123_INCLUDE_DIR)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Random123
    REQUIRED_VARS Random123_INCLUDE_DIR
    REASON_FAILURE_MESSAGE
        "Random123/philox.h not found: install librandom123-dev (Debian/Ubuntu) or pass -DRandom123_INCLUDE_DIR=<dir containing Random123/>")

if(Random123_FOUND AND NOT TARGET Random123::Random123)
    add_library(Random123::Random123 INTERFACE IMPORTED)
    set_target_properties(Random123::Random123 PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${Random123_INCLUDE_DIR}")
endif()
