#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Kill-and-resume test of an MPI campaign (ctest mpi/kill_and_resume_np<N>): starts
# `mpiexec -n <ranks> <worker> <dir>` in its own session, SIGKILLs every process of that session
# (mpiexec and all ranks, as a scheduler preempts a job) at a seeded random point, restarts, and
# repeats until a run completes. The kill point is random: after 1-16 new shards or 0.3-1.2 s,
# whichever comes first, then 0-19 ms more, so slow and fast machines both see several kills. Checks that no finished shard file is ever rewritten (same
# inode) and that the final dataset equals one-process generation (<worker> <dir> --verify).
#   kill_and_resume.sh <worker> <dir> <ranks> <seed> <mpiexec> <numproc-flag> [mpiexec flags...]
set -euo pipefail
worker=$1 dir=$2 ranks=$3 seed=$4 mpiexec=$5 numproc_flag=$6
shift 6
rm -rf "$dir"
mkdir -p "$dir"
RANDOM=$seed
declare -A inode_of
runs=0 kills=0 mid_write=0
session_pids() { ps -o pid= --sid "$1" 2>/dev/null || true; }
shopt -s nullglob
finished_shards() {  # a builtin glob: cheap enough to poll every few milliseconds
    local files=("$dir"/level*.bin)
    echo "${#files[@]}"
}
while :; do
    runs=$((runs + 1))
    if ((runs > 80)); then
        echo "kill_and_resume: not complete after 80 runs" >&2
        exit 1
    fi
    setsid "$mpiexec" "$numproc_flag" "$ranks" "$@" "$worker" "$dir" > "$dir.log" 2>&1 &
    leader=$!
    start=$(finished_shards)
    target=$((1 + RANDOM % 16))
    extra_ms=$((RANDOM % 20))
    deadline_us=$((${EPOCHREALTIME/./} + 1000 * (300 + RANDOM % 900)))
    while kill -0 "$leader" 2> /dev/null && (($(finished_shards) - start < target)) &&
        ((${EPOCHREALTIME/./} < deadline_us)); do
        sleep 0.002
    done
    sleep "0.$(printf '%03d' "$extra_ms")"
    if kill -0 "$leader" 2> /dev/null; then
        # shellcheck disable=SC2046
        kill -9 $(session_pids "$leader") 2> /dev/null || true
        wait "$leader" 2> /dev/null || true
        for _ in $(seq 200); do  # ranks are reparented when mpiexec dies; wait until all are gone
            [[ -z $(session_pids "$leader") ]] && break
            sleep 0.05
        done
        kills=$((kills + 1))
        temporaries=("$dir"/*.tmp-*)
        if ((${#temporaries[@]} > 0)); then mid_write=$((mid_write + 1)); fi
    elif wait "$leader"; then
        cat "$dir.log"
        break
    else
        echo "kill_and_resume: run $runs failed:" >&2
        cat "$dir.log" >&2
        exit 1
    fi
    for file in "$dir"/level*.bin; do
        inode=$(stat -c %i "$file")
        name=$(basename "$file")
        if [[ -n ${inode_of[$name]:-} && ${inode_of[$name]} != "$inode" ]]; then
            echo "kill_and_resume: finished shard $name was rewritten after run $runs" >&2
            exit 1
        fi
        inode_of[$name]=$inode
    done
done
echo "kill_and_resume: $runs runs, $kills SIGKILLs ($mid_write left a half-written temporary)"
if ((kills < 3)); then
    echo "kill_and_resume: the schedule interrupted the campaign only $kills times" >&2
    exit 1
fi
"$worker" "$dir" --verify
rm -rf "$dir" "$dir.log"
