#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Times the PyTorch reference (../shared/bench/torch_reference/gnk_reference.py, outside this
# repository) on the configurations bench_training measures, so both can be read side by side:
#   ML-NLE nsf1d, n = (10^4, 300), full batch        (--method mlmc, 1000 epochs)
#   NLE nsf1d on 300 high-fidelity simulations        (--method mc, 2000 epochs max, early stop)
#   [--same-size] NLE nsf1d on 10^4 simulations        (--method mc --n1 10000)
#   [--npe] only ML-NPE maf 4-D, n = (10^3, 100), m = 1000 (--task npe --method mlmc
#           --estimator maf), the configuration bench_npe's BM_GnkMaf times
# at each thread count, with OMP_WAIT_POLICY=ACTIVE (stable 2-thread runs on a 2-core machine).
# Reports the per-epoch median after the reference's warm-up (10 epochs), the p10..p90 range and
# the ML/MC per-epoch ratio. JSON results go to a temporary directory, never into the repository.
#
# Needs: apt-get install -y python3-torch python3-numpy python3-scipy libopenblas0-openmp
# (without libopenblas0-openmp Debian's torch falls back to the reference BLAS, 2-5x slower).
#
# usage: benchmarks/run_torch_reference.sh [--epochs N] [--threads "1 2"] [--repeats R]
#                                          [--same-size] [--out DIR]
#   --epochs N   epochs of every run (default: the paper's, ML 1000, MC 2000 with early
#                stopping); use e.g. 100 for a quick check
#   --threads    thread counts (default "1 2")
#   --repeats R  runs per configuration (default 1); the table shows the median over runs
#   --same-size  also time plain NLE on 10^4 simulations (the same-data-size MC epoch)
#   --npe        time the ML-NPE MAF configuration instead of the NLE ones
#   --out DIR    result directory (default: a new mktemp -d directory; must be outside the repo)
# Environment: PYTHON (default /usr/bin/python3, Debian's torch), MLSBI_SHARED_DIR (default
# ../shared relative to the repository root). Exits 0 with a message when the reference or
# torch is absent.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
shared_dir=${MLSBI_SHARED_DIR:-$repo_root/../shared}
ref_dir=$shared_dir/bench/torch_reference
py=${PYTHON:-/usr/bin/python3}

epochs=""
threads_list="1 2"
repeats=1
same_size=0
npe=0
out_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --epochs) epochs=$2; shift 2 ;;
        --threads) threads_list=$2; shift 2 ;;
        --repeats) repeats=$2; shift 2 ;;
        --same-size) same_size=1; shift ;;
        --npe) npe=1; shift ;;
        --out) out_dir=$2; shift 2 ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "run_torch_reference.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [ ! -f "$ref_dir/gnk_reference.py" ]; then
    echo "run_torch_reference.sh: no PyTorch reference at $ref_dir (../shared is absent); nothing to run"
    exit 0
fi
if ! "$py" -c "import torch, numpy" 2>/dev/null; then
    echo "run_torch_reference.sh: $py cannot import torch and numpy; install python3-torch" \
         "python3-numpy libopenblas0-openmp to run the reference; nothing run"
    exit 0
fi

if [ -z "$out_dir" ]; then
    out_dir=$(mktemp -d "${TMPDIR:-/tmp}/mlsbi_torch_reference.XXXXXX")
fi
out_dir=$(realpath -m "$out_dir")
case "$out_dir/" in
    "$(realpath "$repo_root")"/*)
        echo "run_torch_reference.sh: --out $out_dir is inside the repository; choose a temporary directory" >&2
        exit 2 ;;
esac
mkdir -p "$out_dir"

export OMP_WAIT_POLICY=ACTIVE
epoch_args=()
[ -n "$epochs" ] && epoch_args=(--epochs "$epochs")

echo "PyTorch reference: $ref_dir"
echo "results: $out_dir"
echo "OMP_WAIT_POLICY=$OMP_WAIT_POLICY; threads: $threads_list; repeats: $repeats; epochs: ${epochs:-paper defaults}"
echo "load before: $(uptime)"

configs=("mlmc_n0_10000_n1_300:--method mlmc --n0 10000 --n1 300"
         "mc_n1_300:--method mc --n1 300")
[ "$same_size" = 1 ] && configs+=("mc_n1_10000:--method mc --n1 10000")
task_args=(--task nle --estimator nsf1d)
if [ "$npe" = 1 ]; then
    configs=("npe_mlmc_maf_n0_1000_n1_100:--method mlmc --n0 1000 --n1 100 --m 1000")
    task_args=(--task npe --estimator maf)
fi

for rep in $(seq 1 "$repeats"); do
    for t in $threads_list; do
        for config in "${configs[@]}"; do
            name=${config%%:*}
            read -r -a args <<< "${config#*:}"
            echo "run $rep: $name, $t thread(s)"
            # cd: the reference may write caches next to itself only if it can; run from out_dir.
            (cd "$out_dir" && "$py" "$ref_dir/gnk_reference.py" "${task_args[@]}" \
                --device cpu --seed 42 --no-eval --threads "$t" "${args[@]}" "${epoch_args[@]}" \
                --out "$out_dir/${name}_t${t}_r${rep}.json" > "$out_dir/${name}_t${t}_r${rep}.log" 2>&1) ||
                { echo "run_torch_reference.sh: $name failed, see $out_dir/${name}_t${t}_r${rep}.log" >&2; exit 1; }
        done
    done
done
echo "load after: $(uptime)"

"$py" - "$out_dir" <<'EOF'
import glob, json, os, re, sys
from statistics import median

out = sys.argv[1]
runs = {}
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    m = re.match(r"(.*)_t(\d+)_r\d+\.json$", os.path.basename(path))
    if not m:
        continue
    with open(path) as f:
        r = json.load(f)
    runs.setdefault((m.group(1), int(m.group(2))), []).append(r)

labels = {"mlmc_n0_10000_n1_300": "ML-NLE nsf1d n=(10^4, 300)",
          "mc_n1_300": "NLE nsf1d n=300 (270 train + 30 val)",
          "mc_n1_10000": "NLE nsf1d n=10^4 (9000 train + 1000 val)",
          "npe_mlmc_maf_n0_1000_n1_100": "ML-NPE maf 4-D n=(10^3, 100), m=1000"}
print()
print("| configuration | threads | epochs run | warm-up | median ms/epoch | p10..p90 ms | runs |")
print("|---|---|---|---|---|---|---|")
medians = {}
for (name, t), rs in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    med = median(r["timing"]["epoch_median_s"] * 1e3 for r in rs)
    p10 = median(r["timing"]["epoch_p10_s"] * 1e3 for r in rs)
    p90 = median(r["timing"]["epoch_p90_s"] * 1e3 for r in rs)
    medians[(name, t)] = med
    epochs = "/".join(sorted({str(r["epochs_run"]) for r in rs}))
    print(f"| {labels.get(name, name)} | {t} | {epochs} | {rs[0]['timing']['warmup_epochs']} "
          f"| {med:.3f} | {p10:.3f}..{p90:.3f} | {len(rs)} |")
print()
for t in sorted({t for _, t in medians}):
    ml = medians.get(("mlmc_n0_10000_n1_300", t))
    for mc in ("mc_n1_300", "mc_n1_10000"):
        if ml is not None and (mc, t) in medians:
            print(f"ML/MC per-epoch ratio, {t} thread(s), vs {labels[mc]}: {ml / medians[(mc, t)]:.2f}")
EOF
