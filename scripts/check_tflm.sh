#!/usr/bin/env bash
# The TensorFlow Lite Micro comparison, end to end (strict: any difference fails):
#  1. installs the pinned Python packages if they are missing (scripts/requirements.txt);
#  2. checks that the op models in testdata/tflite/tflm/ are reproduced byte for byte
#     (scripts/make_tflm_op_models.py --check);
#  3. builds the CLI once (cargo build --release -p aiop), unless $AIOP_BIN names one;
#  4. for every op model and every MLPerf Tiny model (../shared/models/mlperf-tiny, 200 seeded
#     inputs each, plus the real kws_sample_0.hex for kws): imports it with
#     `aiop model import-tflite`, runs it with `aiop model run --inputs` on every kernel path
#     this CPU has, compares every output byte with TFLM, and counts LiteRT BUILTIN_REF's
#     differences from TFLM against testdata/tflite/tflm/litert_differences.json
#     (scripts/tflm_oracle.py compare). Prints one row per model;
#  5. re-imports the MLPerf Tiny models and checks testdata/models/mlperf_*.aiop and their
#     TFLM-derived golden vectors are reproduced (scripts/make_mlperf_vectors.py --check).
# Fails on any byte that differs from TFLM, on an op the importer does not support, on kernel
# paths that disagree, and on a LiteRT count that is not the pinned one.
# Usage: scripts/check_tflm.sh [--only NAME] [--no-fail] [--write-pins] [--verbose]
#   --no-fail prints the same table and exits 0 (to look at the differences, never in CI);
#   --write-pins rewrites the LiteRT pins from this run (after checking why they changed).
#   The interpreter is $PYTHON, else $AIOP_PYTHON (the venv scripts/install-test-tools makes),
#   else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-${AIOP_PYTHON:-python3}}
if ! "$PY" -c "import tflite_micro, ai_edge_litert, tflite, flatbuffers, numpy" 2>/dev/null; then
  "$PY" -m pip install --quiet -r scripts/requirements.txt
fi
"$PY" scripts/make_tflm_op_models.py --check
if [ -z "${AIOP_BIN:-}" ]; then
  cargo build --release -p aiop
  AIOP_BIN="${CARGO_TARGET_DIR:-target}/release/aiop"
fi
"$PY" scripts/tflm_oracle.py compare --aiop "$AIOP_BIN" "$@"
# The published MLPerf Tiny models and vectors: re-imported to the same bytes, outputs still
# TFLM's on every kernel path.
if [ $# -eq 0 ]; then
  "$PY" scripts/make_mlperf_vectors.py --aiop "$AIOP_BIN" --check
fi
