#!/usr/bin/env bash
# One unattended check of a GPU machine, in under 8 minutes (docs/PERFORMANCE.md, "GPU"):
#   1. install the GPU build (make install GPU=1)
#   2. print the GPUs that TensorFlow sees (stops here when there is none) and count the kernels
#      per decoder step that XLA makes for this device (bench_ops.py)
#   3. train 20 steps of the `paper` preset on sheep, sample 5 test sketches and score them (Ret)
#   4. bench_train.py for `paper` and `small` at batch 100 and BIG_BATCH (default 1000): the
#      default step, jit_compile=True with shape_buckets, precision=mixed_bfloat16 and both,
#      measured alternately in one process per (preset, batch)
# Every step runs under `timeout` and within the overall budget (BUDGET_S, default 470 s): a step
# that no longer fits is skipped and recorded. Results: one JSON line per step in
# $OUT/<date>-<device>.jsonl (or results/gpu/ when OUT is unset), the full output next to it (.log).
#
#   bash benchmarks/device_check.sh            # on the GPU machine, from a fresh clone
#   bash benchmarks/device_check.sh --dry-run  # here: tiny sizes, CPU build already installed
#
# PRESETS and BATCHES (space-separated) replace the benchmark matrix; the dry run measures only
# `paper` (with tiny sizes, shape_buckets=4) at batch 10, the default step against bf16 alone:
# the same commands, one process of each kind.
# INSTALL=0 skips step 1 and PY=/path/to/python uses an interpreter that already has TensorFlow
# (a machine without access to PyPI).
set -u -o pipefail
cd "$(dirname "$0")/.."

DRY=0
case "${1:-}" in
  --dry-run) DRY=1 ;;
  "") ;;
  *) echo "usage: bash benchmarks/device_check.sh [--dry-run]" >&2; exit 2 ;;
esac

START=$(date +%s)
BUDGET_S=${BUDGET_S:-470}
PY=${PY:-.venv/bin/python}
INSTALL=${INSTALL:-1}
BIG_BATCH=${BIG_BATCH:-1000}
if [ "$DRY" = 1 ]; then
  # Tiny model and data: the same commands as a real run, in seconds on a CPU. shape_buckets
  # keeps the timed steps on the warm-up's shape (no retracing).
  MODEL=",enc_rnn_size=8,dec_rnn_size=16,z_size=8,hyper_num_units=16,hyper_embedding_size=4,num_per_category=40"
  MODEL="$MODEL,shape_buckets=4"
  TRAIN_STEPS=2; TRAIN_BATCH=",batch_size=10"; SAMPLES=2
  PRESETS=${PRESETS:-paper}; BATCHES=${BATCHES:-10}; STEPS=1; WARMUP=1; ROUNDS=1
  # One variant beside the default: the --variants path is the same for every variant, and an
  # XLA compile of the whole step is the slowest thing a CPU can do here (the jit step has its
  # own test: tests/test_grid_encoder.py).
  VARIANTS="precision=mixed_bfloat16"
  # Two traces on a CPU that the test suite shares with other jobs: a GPU's
  # 120 s would make the dry run fail under load, not the script.
  BENCH_S=300
else
  MODEL=""; TRAIN_STEPS=20; TRAIN_BATCH=""; SAMPLES=5
  PRESETS=${PRESETS:-"paper small"}; BATCHES=${BATCHES:-"100 $BIG_BATCH"}; STEPS=3; WARMUP=2; ROUNDS=2
  VARIANTS="jit_compile=True,shape_buckets=4;precision=mixed_bfloat16;precision=mixed_bfloat16,jit_compile=True,shape_buckets=4"
  BENCH_S=120
fi

DEVICE=cpu
if command -v nvidia-smi >/dev/null 2>&1; then
  DEVICE=$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 |
           tr -c 'A-Za-z0-9\n' '-' | sed 's/-*$//')
  DEVICE=${DEVICE:-gpu}
fi
[ "$DRY" = 1 ] && DEVICE="$DEVICE-dry-run"
RESULTS_DIR=${OUT:-results/gpu}
mkdir -p "$RESULTS_DIR"
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
RESULTS="$RESULTS_DIR/$STAMP-$DEVICE.jsonl"
LOG="$RESULTS_DIR/$STAMP-$DEVICE.log"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/device_check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "device check ($([ "$DRY" = 1 ] && echo dry run || echo full)): results in $RESULTS, output in $LOG"

left() { echo $(( BUDGET_S - ($(date +%s) - START) )); }

# record STEP RC SECONDS [JSON fields without braces]: one line of the results file.
record() {
  local extra=${4:+, $4}
  echo "{\"step\": \"$1\", \"rc\": $2, \"seconds\": $3, \"device\": \"$DEVICE\", \"commit\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\"$extra}" >> "$RESULTS"
}

# step NAME LIMIT_S COMMAND...: run with a timeout that also respects the budget; rc in $RC.
step() {
  local name=$1 limit=$2; shift 2
  local remaining; remaining=$(( $(left) - 5 ))
  if [ "$remaining" -lt 20 ]; then
    echo "== $name: skipped, $remaining s of the budget left" | tee -a "$LOG"
    record "$name" null 0 '"skipped": "budget"'
    RC=skipped; return
  fi
  [ "$limit" -gt "$remaining" ] && limit=$remaining
  echo "== $name (timeout ${limit} s): $*" | tee -a "$LOG"
  local t0; t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >> "$LOG" 2>&1
  RC=$?
  SECONDS_TAKEN=$(( $(date +%s) - t0 ))
  echo "== $name: rc $RC, ${SECONDS_TAKEN} s" | tee -a "$LOG"
}

# 1. the GPU build
if [ "$DRY" = 1 ] || [ "$INSTALL" = 0 ]; then
  record install null 0 "\"skipped\": \"$([ "$DRY" = 1 ] && echo dry run || echo INSTALL=0)\""
else
  step install 300 make install GPU=1
  [ "$RC" = skipped ] || record install "$RC" "$SECONDS_TAKEN"
  if [ "$RC" != 0 ]; then echo "install failed: see $LOG" >&2; exit 1; fi
fi

# 2. what the machine and TensorFlow see, and the kernels per decoder step that XLA makes for
#    this device (bench_ops.py; docs/PERFORMANCE.md, "GPU")
command -v nvidia-smi >/dev/null 2>&1 && timeout 20 nvidia-smi -L 2>&1 | tee -a "$LOG"
step devices 150 "$PY" benchmarks/bench_ops.py --no_flops --hparams="preset=paper$MODEL"
if [ "$RC" != skipped ]; then
  LINE=$(grep '^{"hparams"' "$LOG" | tail -1)
  record devices "$RC" "$SECONDS_TAKEN" "\"result\": ${LINE:-null}"
  echo "${LINE:-no answer from TensorFlow}" | cut -c1-300
fi
if [ "$DRY" = 0 ] && ! echo "${LINE:-}" | grep -q '"gpus": \["'; then
  echo "no GPU visible to TensorFlow: stopping (see $LOG)" >&2; exit 3
fi

# 3. the whole path on the device: train, sample, score
RUN="$WORK/run"
step train 150 "$PY" train.py --log_root="$RUN" --data_dir=data \
  --hparams="preset=paper,categories=[aaron_sheep],num_steps=$TRAIN_STEPS$TRAIN_BATCH$MODEL"
[ "$RC" = skipped ] || record train "$RC" "$SECONDS_TAKEN" "\"hparams\": \"preset=paper,num_steps=$TRAIN_STEPS$TRAIN_BATCH$MODEL\""
step sample 90 "$PY" sample_abs.py --sample_size=$SAMPLES --dataset_id=0 --sample_output="$WORK/samples" \
  --re_scale=0 --checkpoint_path="$RUN" --data_dir=data
[ "$RC" = skipped ] || record sample "$RC" "$SECONDS_TAKEN"
step score 60 "$PY" retrieval.py "$WORK/samples" "$RUN"
if [ "$RC" != skipped ]; then
  RET=$(cat "$WORK/samples/ret.json" 2>/dev/null | tr -d '\n')
  record score "$RC" "$SECONDS_TAKEN" "\"ret\": ${RET:-null}"
fi

# 4. training speed: each (preset, batch) in one process, its variants measured alternately;
#    `paper` first (the goal's preset), so that a short budget skips `small`
for preset in $PRESETS; do
  for batch in $BATCHES; do
    hp="preset=$preset,batch_size=$batch$MODEL"
    step "bench $preset $batch" $BENCH_S "$PY" benchmarks/bench_train.py --hparams="$hp" \
      --variants="$VARIANTS" --steps=$STEPS --warmup=$WARMUP --rounds=$ROUNDS
    [ "$RC" = skipped ] && continue
    LINE=$(grep '^{"variants"' "$LOG" | tail -1)
    if [ "$RC" = 0 ] && [ -n "$LINE" ]; then
      record "bench $preset $batch" 0 "$SECONDS_TAKEN" "\"result\": $LINE"
    else
      record "bench $preset $batch" "$RC" "$SECONDS_TAKEN" "\"hparams\": \"$hp\""
    fi
  done
done
echo "done in $(( $(date +%s) - START )) s: $RESULTS"
