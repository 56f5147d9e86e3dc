#!/usr/bin/env bash
# Creates bench/.venv with the PESQ scorer (PyPI `pesq`, ITU-T P.862) and numpy/scipy.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
fi
"$here/.venv/bin/pip" install --quiet --upgrade pip
"$here/.venv/bin/pip" install --quiet numpy scipy cython wheel setuptools
"$here/.venv/bin/pip" install --quiet --no-build-isolation pesq
"$here/.venv/bin/python" -c "import pesq, numpy, scipy; print('bench venv ready')"
