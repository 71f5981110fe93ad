#!/usr/bin/env bash
# The LiteRT comparison, end to end:
#  1. installs the pinned Python packages if they are missing (scripts/requirements.txt);
#  2. checks that the digits export and the .tflite test models are reproduced byte for byte;
#  3. recomputes every expected output with LiteRT's reference kernels (BUILTIN_REF) and fails
#     on any byte that differs from testdata/tflite/*.litert.json;
#  4. confirms the per-op rounding rules recorded in docs/models.md;
#  5. runs the Rust test that imports each model and compares the engine's every output byte.
# Usage: scripts/check_litert.sh [--python-only]
#   The interpreter is $PYTHON, else $AIOP_PYTHON (the venv scripts/install-test-tools makes),
#   else python3. --python-only skips step 5 (scripts/test-all runs it in `cargo test --workspace`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-${AIOP_PYTHON:-python3}}
if ! "$PY" -c "import ai_edge_litert, tflite, flatbuffers, numpy, sklearn" 2>/dev/null; then
  "$PY" -m pip install --quiet -r scripts/requirements.txt
fi
"$PY" scripts/export_digits.py --check
"$PY" scripts/make_tflite_models.py --check
"$PY" scripts/litert_oracle.py --check
"$PY" scripts/litert_rounding_probe.py
if [ "${1:-}" != "--python-only" ]; then
  cargo test -p aiop-tools --test tflite_litert --test digits_accuracy
fi
