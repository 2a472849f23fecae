#!/usr/bin/env bash
# Create .venv-bench: a separate virtualenv for the benchmarks (benchmarks/bench_*.py: the speed
# benchmarks and bench_agreement.py, energy-ood's scores against pytorch-ood's detectors).
#
# It holds what the benchmarks compare against and the project must never depend on:
# scikit-learn's metrics and pytorch-ood 0.4.0 (installed with --no-deps, WITHOUT torchvision;
# benchmarks/_baselines.py loads its metrics and detector modules without the package's
# top-level __init__, which is what pulls torchvision in). Idempotent; the last step checks that
# every detector bench_agreement.py compares loads.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv-bench
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)

# 1. the CPU build of torch FIRST, pinned, so nothing below pulls a CUDA build.
"${PIP[@]}" torch==2.13.0
# 2. the project itself (editable) and scikit-learn (the reference metrics and NearestNeighbors).
"${PIP[@]}" -e .
"${PIP[@]}" scikit-learn
# 2b. faiss-cpu: the optional KNN backend (energy-ood[faiss]) that bench_knn.py measures.
"${PIP[@]}" faiss-cpu
# 3. pytorch-ood 0.4.0 without its dependencies, then its light ones by hand; torchvision is
#    deliberately left out (and removed if something brought it in).
"${PIP[@]}" --no-deps pytorch-ood==0.4.0
"${PIP[@]}" "scipy>=1.7" "numpy>=1.23" "typing_extensions>=4.0"
if "$VENV/bin/python" -c "import torchvision" >/dev/null 2>&1; then
  "$VENV/bin/python" -m pip uninstall -y -q torchvision
fi

"$VENV/bin/python" - <<'EOF'
import sys
sys.path.insert(0, "benchmarks")
import importlib.util, torch, sklearn, numba, faiss, energy_ood
import _baselines as b

assert importlib.util.find_spec("torchvision") is None, "torchvision must not be installed"
b.pood_metrics_module(), b.pood_detector("mahalanobis"), b.pood_detector("knn")
import bench_agreement  # every detector that bench_agreement.py compares loads, without torchvision
for cls, module in bench_agreement.POOD_DETECTORS.items():
    b.pood_detector(module, cls)
print("bench env: torch", torch.__version__, "| sklearn", sklearn.__version__,
      "| numba", numba.__version__, "| faiss", faiss.__version__,
      "| pytorch-ood", b.pood_version(), "(no torchvision;",
      len(bench_agreement.POOD_DETECTORS), "detectors load)")
EOF
