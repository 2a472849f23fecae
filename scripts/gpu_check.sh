#!/usr/bin/env bash
# The energy paper's CIFAR-10 table on one GPU, as one prepared job (target: <= 9 minutes on one
# H100/H200): `energy-ood bench cifar10_gpu` = WRN-40-2 pretraining for as many epochs as fit in
# its time budget (bf16, channels_last, CIFAR-10 held on the GPU), energy and OE fine-tuning
# (10 epochs each), every post-hoc scorer on the CIFAR-10 OOD sets; prints each training
# stage's images/s and step-time percentiles. Writes report.md,
# report.html, results.json and the plots, with the measured times and the device named, to
# docs/results/cifar10_gpu/ (or --out), replacing that folder only when the run succeeded.
# Then the CPU-sized CIFAR-10 config `cifar10_cpu` (ResNet-9, 3 seeds) at full size on the GPU
# (--device cuda), to docs/results/cifar10_cpu_gpu/ (or --out2); --tiny runs only the first.
#
#   bash scripts/gpu_check.sh [--data-root DIR] [--out DIR] [--out2 DIR] [--budget SECONDS]
#   bash scripts/gpu_check.sh --tiny      # the same pipeline in seconds on a CPU (CI runs it):
#                                         # digits, small CNN, 1 epoch, 2 OOD sets, no GPU
#
# Environment: PYTHON (default: .venv/bin/python if present, else python3); the package is
# taken from src/, so a machine with torch, numpy, scipy, scikit-learn, scikit-image, pillow,
# matplotlib, numba and tqdm needs no install.
set -euo pipefail
cd "$(dirname "$0")/.."

tiny=0
data_root=${ENERGY_OOD_DATA_ROOT:-../shared/data}
out=""
out2=docs/results/cifar10_cpu_gpu
budget=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tiny) tiny=1 ;;
    --data-root) data_root=$2; shift ;;
    --out) out=$2; shift ;;
    --out2) out2=$2; shift ;;
    --budget) budget=$2; shift ;;
    *) echo "gpu_check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$out" ] || out=$([ $tiny = 1 ] && echo runs/gpu_check_tiny || echo docs/results/cifar10_gpu)

if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

work=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
trap 'rm -rf "$work"' EXIT

args=(bench cifar10_gpu --out "$work/bench" --fresh)
if [ $tiny = 1 ]; then
  args=(--quiet "${args[@]}" --device cpu --amp off
        --set data.dataset=digits --set model.name=cnn --set seeds=[0]
        --set 'data.ood_sets=["sklearn-photos","gaussian"]' --set 'data.aux=["scenes-aux"]'
        --set data.n_ood=300 --set pretrain.time_budget_s=2.0 --set pretrain.epochs=1
        --set pretrain.augment=crop --set finetune.epochs=1 --set finetune.n_aux=600
        --set finetune.augment=crop --set sweeps.temperatures=[1,10] --set eval.n_draws=2
        --set eval.fit_samples=500 --set 'title="gpu_check.sh --tiny: the CIFAR-10 GPU pipeline on digits, CPU"')
else
  args+=(--data-root "$data_root")
  [ -z "$budget" ] || args+=(--set "pretrain.time_budget_s=$budget")
  "$PYTHON" - <<'EOF'
import torch
if not torch.cuda.is_available():
    raise SystemExit("gpu_check.sh: no CUDA device here; use --tiny for the CPU variant")
print("device:", torch.cuda.get_device_name(), "| torch", torch.__version__)
EOF
fi

# run_one CONFIG OUT ARGS...: one benchmark into $work, its report moved to OUT on success
run_one() {
  local name=$1 dest=$2; shift 2
  local start
  start=$(date +%s)
  "$PYTHON" -m energy_ood "$@" > "$work/report.txt"
  echo "gpu_check.sh: $name done in $(( $(date +%s) - start )) s"
  # training speed per stage: images/s and step-time percentiles (medians over epochs; on CUDA
  # read from device events, the device synchronised only before each epoch's timer is read)
  "$PYTHON" - "$work/bench/results.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
for seed, stages in zip(res["seeds"], res["timings"].get("speed", [])):
    for stage, sp in stages.items():
        if sp:
            print(f"gpu_check.sh: seed {seed} {stage}: {sp['images_per_s']:.0f} images/s, step "
                  f"p50 {sp['step_ms_p50']:.1f} ms, p90 {sp['step_ms_p90']:.1f} ms, "
                  f"p99 {sp['step_ms_p99']:.1f} ms")
PY
  # keep the report, its results and plots; leave checkpoints behind
  rm -rf "$work/keep"; mkdir -p "$work/keep"
  for f in report.md report.html results.json; do cp "$work/bench/$f" "$work/keep/"; done
  find "$work/bench" -maxdepth 1 -name '*.png' -exec cp {} "$work/keep/" \;
  mkdir -p "$(dirname "$dest")"
  rm -rf "$dest.old"
  [ ! -e "$dest" ] || mv "$dest" "$dest.old"
  mv "$work/keep" "$dest"
  rm -rf "$dest.old" "$work/bench"
  echo "gpu_check.sh: report in $dest/report.md"
}

run_one cifar10_gpu "$out" "${args[@]}"
if [ $tiny = 0 ]; then
  run_one cifar10_cpu "$out2" bench cifar10_cpu --out "$work/bench" --fresh --device cuda \
    --data-root "$data_root"
fi
