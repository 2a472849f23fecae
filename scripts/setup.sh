#!/usr/bin/env bash
# Set up everything energy-ood needs on a fresh Debian machine (idempotent):
#  - Debian packages: Fashion-MNIST (in-distribution data), WordNet (text benchmark) and two
#    natural-image OOD sources: mate-backgrounds (12 nature photos, GPL-2+, 47 MB download)
#    and gimp-data (photographed texture patterns, GPL-3+, 14 MB);
#  - a virtualenv in .venv with the CPU build of torch pinned FIRST (torch==2.13.0), so no
#    later requirement pulls a multi-GB CUDA build; then the package with its extras (dev, text,
#    vlm, torchvision, timm, onnx). torchvision 0.28 is the release made for torch 2.13, pinned so pip
#    keeps the CPU torch; PyPI only has CUDA builds of it, whose compiled ops cannot load with
#    CPU torch, so a startup hook (energy_ood._tvcompat, one .pth line) declares those ops when,
#    and only when, they failed to load: `import torchvision` / `import timm` then work.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -d /usr/share/datasets/fashion-mnist ] || need_apt+=(dataset-fashion-mnist)
[ -f /usr/share/wordnet/data.noun ] || need_apt+=(wordnet-base)
[ -d /usr/share/backgrounds/mate/nature ] || need_apt+=(mate-backgrounds)
[ -d /usr/share/gimp/2.0/patterns ] || need_apt+=(gimp-data)
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: apt-get not found; install ${need_apt[*]} by hand (the demo falls back to" \
         "scikit-learn's digits without Fashion-MNIST and skips absent OOD sets)" >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" -e ".[dev,text,vlm,torchvision,timm,onnx]" "torchvision==0.28.*"
.venv/bin/python -c "import energy_ood._tvcompat as t; print('setup: hook', t.install_pth())"
.venv/bin/python -c "import torch, torchvision, timm, energy_ood; print('setup: torch', \
torch.__version__, 'torchvision', torchvision.__version__, 'timm', timm.__version__, \
'energy_ood', energy_ood.__version__)"
