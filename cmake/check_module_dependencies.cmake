# SPDX-License-Identifier: MIT
# Dependency-direction check (STYLE.md, "Dependencies point one way"): every
# `#include "mlsbi/<module>/..."` (or <...>, or a module umbrella "mlsbi/<module>.hpp") in a
# header under include/mlsbi/<owner>/ must name <owner> itself or a module <owner> may see.
#
#   cmake -P cmake/check_module_dependencies.cmake [-DMLSBI_INCLUDE_DIR=<dir holding mlsbi/>]
#
# Runs in CTest as `dependency_direction`. A new top-level module must be added to the table.

cmake_minimum_required(VERSION 3.21)

if(NOT DEFINED MLSBI_INCLUDE_DIR)
    set(MLSBI_INCLUDE_DIR "${CMAKE_CURRENT_LIST_DIR}/../include")
endif()
get_filename_component(MLSBI_INCLUDE_DIR "${MLSBI_INCLUDE_DIR}" ABSOLUTE)

# Modules each module may include besides itself (written out transitively, so the table is the
# whole rule). core <- rng <- distributions <- simulators; core <- nn <- flows (rng is a
# foundation: seeded initialisation); optimizers see only core (flat vectors);
# {flows, simulators} <- losses; {losses, optimizers} <- training; {flows, distributions} <-
# inference; io saves estimators; diagnostics may use anything below sbi (C2ST trains its
# classifier through training's loop); testing only
# core/rng (and nn/flows for the density contract checker); sbi (the NLE/NPE front ends)
# sits on top and may use every module but mpi; mpi (optional, the only module that includes
# <mpi.h>) distributes simulators.
set(allowed_core "")
set(allowed_rng core)
set(allowed_distributions core rng)
set(allowed_simulators core rng distributions)
set(allowed_nn core rng)
set(allowed_flows core rng nn distributions)
set(allowed_optimizers core)
set(allowed_losses core rng nn distributions flows simulators)
set(allowed_io core rng nn distributions flows)
set(allowed_training core rng nn distributions flows simulators losses optimizers io)
set(allowed_inference core rng nn distributions flows)
set(allowed_diagnostics core rng nn distributions flows simulators losses optimizers inference io
                        training)
set(allowed_testing core rng nn flows)
set(allowed_mpi core rng distributions simulators)
set(allowed_sbi core rng nn distributions flows simulators losses optimizers io training inference
                diagnostics testing)
set(modules core rng distributions simulators nn flows optimizers losses io training inference
            diagnostics testing sbi mpi)

file(GLOB_RECURSE headers RELATIVE "${MLSBI_INCLUDE_DIR}" "${MLSBI_INCLUDE_DIR}/mlsbi/*.hpp")
if(NOT headers)
    message(FATAL_ERROR "check_module_dependencies: no headers under ${MLSBI_INCLUDE_DIR}/mlsbi")
endif()

set(violations "")
set(checked 0)
foreach(header IN LISTS headers)
    # Owner: mlsbi/<owner>/... or the umbrella mlsbi/<owner>.hpp; mlsbi/mlsbi.hpp may include all.
    if(header STREQUAL "mlsbi/mlsbi.hpp")
        continue()
    endif()
    string(REGEX MATCH "^mlsbi/([A-Za-z0-9_]+)(/|\\.hpp$)" _ "${header}")
    set(owner "${CMAKE_MATCH_1}")
    if(NOT owner IN_LIST modules)
        list(APPEND violations
             "${header}: unknown module '${owner}' (add it to cmake/check_module_dependencies.cmake)")
        continue()
    endif()
    file(STRINGS "${MLSBI_INCLUDE_DIR}/${header}" includes
         REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]mlsbi/")
    foreach(line IN LISTS includes)
        string(REGEX MATCH "[<\"]mlsbi/([A-Za-z0-9_]+)(/|\\.hpp)" _ "${line}")
        set(used "${CMAKE_MATCH_1}")
        math(EXPR checked "${checked} + 1")
        if(used STREQUAL owner OR used IN_LIST allowed_${owner})
            continue()
        endif()
        string(STRIP "${line}" line)
        list(APPEND violations "${header}: module '${owner}' must not include '${used}' (${line})")
    endforeach()
endforeach()

list(LENGTH headers header_count)
if(violations)
    list(JOIN violations "\n  " text)
    message(FATAL_ERROR "check_module_dependencies: wrong-way includes:\n  ${text}\n"
                        "See the dependency rule in STYLE.md and the table in this script.")
endif()
message(STATUS "check_module_dependencies: ${header_count} headers, ${checked} mlsbi includes, all point the allowed way")
