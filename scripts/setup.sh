#!/usr/bin/env bash
# Set up everything energy-ood needs on a fresh Debian machine (idempotent):
#  - Debian packages (without their recommends): Fashion-MNIST (in-distribution data), WordNet
#    (text benchmark) and the pictures of the OOD sets and outlier sources (download sizes):
#    mate-backgrounds (12 nature photos, GPL-2+, 47 MB), gimp-data (photographed texture
#    patterns, GPL-3+, 14 MB), lomiri-wallpapers-16.04 (photos, CC BY / BY-SA 4.0 / CC0,
#    16 MB), tuxtype-data (space photos, GPL-2, 10 MB), lxqt-themes (nature photos, CC BY-SA
#    3.0, 27 MB with lxqt-system-theme), tuxpaint-stamps-default (626 stamps, GPL-2, 161 MB,
#    most of it sound files), ukui-wallpapers (rendered wallpapers, CC BY-SA 3.0, 21 MB) and
#    mypaint-data-extras (paper textures, CC0, 3 MB): 299 MB of pictures in all;
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
[ -f /usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg ] || need_apt+=(lomiri-wallpapers-16.04)
[ -d /usr/share/tuxtype/images/backgrounds ] || need_apt+=(tuxtype-data)
[ -d /usr/share/lxqt/wallpapers ] || need_apt+=(lxqt-themes)
[ -d /usr/share/tuxpaint/stamps/animals ] || need_apt+=(tuxpaint-stamps-default)
[ -f /usr/share/backgrounds/rollpaper.png ] || need_apt+=(ukui-wallpapers)
[ -d /usr/share/mypaint/backgrounds/ramon ] || need_apt+=(mypaint-data-extras)
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${need_apt[@]}" >/dev/null
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
