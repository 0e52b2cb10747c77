# SPDX-License-Identifier: MIT
# README quick starts are the examples' user code: the block between the two `// [<tag>]`
# markers of examples/<example>.cpp (dedented by 4) must equal the ```cpp block after
# `<!-- <tag> -->` in README.md.
#
#   cmake -P cmake/check_readme_quickstart.cmake [-DMLSBI_SOURCE_DIR=<repository>]
#
# Runs in CTest as `readme_quickstart`.
cmake_minimum_required(VERSION 3.21)

if(NOT DEFINED MLSBI_SOURCE_DIR)
    set(MLSBI_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/..")
endif()
file(READ "${MLSBI_SOURCE_DIR}/README.md" readme)

set(failures "")
foreach(pair IN ITEMS "quickstart_nle:quickstart-nle" "quickstart_npe:quickstart-npe")
    string(REPLACE ":" ";" pair "${pair}")
    list(GET pair 0 example)
    list(GET pair 1 tag)
    file(READ "${MLSBI_SOURCE_DIR}/examples/${example}.cpp" source)
    set(marker "    // [${tag}]\n")
    string(FIND "${source}" "${marker}" begin)
    string(FIND "${source}" "${marker}" end REVERSE)
    if(begin EQUAL -1 OR begin EQUAL end)
        list(APPEND failures "examples/${example}.cpp: no pair of '// [${tag}]' markers")
        continue()
    endif()
    string(LENGTH "${marker}" marker_length)
    math(EXPR begin "${begin} + ${marker_length}")
    math(EXPR length "${end} - ${begin}")
    string(SUBSTRING "${source}" ${begin} ${length} code)
    # Dedent by 4 (a "^" anchor would re-match after every replacement, so anchor on newlines).
    string(REPLACE "\n    " "\n" code "\n${code}")
    string(SUBSTRING "${code}" 1 -1 code)

    set(head "<!-- ${tag} -->\n```cpp\n")
    string(FIND "${readme}" "${head}" at)
    if(at EQUAL -1)
        list(APPEND failures "README.md: no '<!-- ${tag} -->' followed by a cpp block")
        continue()
    endif()
    string(LENGTH "${head}" head_length)
    math(EXPR at "${at} + ${head_length}")
    string(SUBSTRING "${readme}" ${at} -1 rest)
    string(FIND "${rest}" "```" stop)
    string(SUBSTRING "${rest}" 0 ${stop} block)
    if(NOT block STREQUAL code)
        list(APPEND failures "README.md block '${tag}' differs from examples/${example}.cpp:\n"
                             "--- example\n${code}--- README\n${block}")
    endif()
    string(REGEX MATCHALL "\n" newlines "${code}")
    list(LENGTH newlines lines)
    message(STATUS "check_readme_quickstart: ${tag}: ${lines} lines, identical in README.md")
endforeach()

if(failures)
    list(JOIN failures "\n" text)
    message(FATAL_ERROR "check_readme_quickstart:\n${text}")
endif()
