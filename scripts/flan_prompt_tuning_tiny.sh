#!/usr/bin/env bash
# FLAN's finding that instruction tuning makes prompt tuning work better (Wei et al. 2021,
# section 4.5), on the tiny T5 with one cluster held out (HELD_OUT, default nli):
#   lm_adapted          gin/runs/lm_adapt_tiny.gin from scratch (Lester et al.'s base)
#   instruction_tuned   lm_adapted, instruction-tuned on the suite without HELD_OUT (and its
#                       related clusters: tasks.mixtures.training_clusters)
#   pt_<base>           gin/peft/prompt_tuning.gin on HELD_OUT's training split, the frozen
#                       base being lm_adapted or instruction_tuned
# Every model is evaluated on HELD_OUT's validation split (gin/runs/eval_heldout.gin); the
# table shows the bases zero-shot beside their prompt-tuned deltas.
#   scripts/flan_prompt_tuning_tiny.sh /tmp/flan_pt
# Step counts (batch 32 each): LM_ADAPT_STEPS, INSTRUCT_STEPS, PROMPT_STEPS; EVAL_ARGS (e.g.
# "--gin.Evaluation.num_examples=50") goes to every eval.py. Rerunning resumes: a finished
# training is not repeated.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:?usage: scripts/flan_prompt_tuning_tiny.sh DIR}
HELD_OUT=${HELD_OUT:-nli}
LM_ADAPT_STEPS=${LM_ADAPT_STEPS:-1000}
INSTRUCT_STEPS=${INSTRUCT_STEPS:-500}
PROMPT_STEPS=${PROMPT_STEPS:-500}
mkdir -p "$DIR"

run() {  # run NAME SCRIPT [gin arguments...]: MODEL_DIR=DIR/NAME, output in DIR/NAME.log
  local name=$1 script=$2
  shift 2
  echo "$(date -u +%T) $script $name"
  python "$script" --gin.MODEL_DIR="'$DIR/$name'" "$@" >> "$DIR/$name.log" 2>&1 \
    || { echo "$name failed; see $DIR/$name.log"; exit 1; }
}
HELD_OUT_EVAL=(--gin_file=gin/runs/eval_heldout.gin --gin.Evaluation.name="'heldout_$HELD_OUT'"
               --gin.Evaluation.mixture_or_task_name="'instruct_suite_heldout_$HELD_OUT'"
               ${EVAL_ARGS:-})

run lm_adapted train.py --gin_file=gin/runs/lm_adapt_tiny.gin --gin.TRAIN_STEPS="$LM_ADAPT_STEPS"
run instruction_tuned train.py --gin_file=gin/runs/sft_tiny.gin \
  --gin.MIXTURE_OR_TASK_NAME="'instruct_suite_without_$HELD_OUT'" \
  --gin.TRAIN_STEPS="$INSTRUCT_STEPS" --gin.INITIAL_CHECKPOINT_PATH="'$DIR/lm_adapted'"
for base in lm_adapted instruction_tuned; do
  run "$base" eval.py "${HELD_OUT_EVAL[@]}"
  run "pt_$base" train.py --gin_file=gin/runs/sft_tiny.gin --gin_file=gin/peft/prompt_tuning.gin \
    --gin.MIXTURE_OR_TASK_NAME="'instruct_suite_heldout_$HELD_OUT'" \
    --gin.TRAIN_STEPS="$PROMPT_STEPS" --gin.INITIAL_CHECKPOINT_PATH="'$DIR/$base'"
  run "pt_$base" eval.py "${HELD_OUT_EVAL[@]}" --gin_file=gin/peft/prompt_tuning.gin
done

python - "$DIR" "heldout_$HELD_OUT" <<'PY'
import json, pathlib, sys
root, name = pathlib.Path(sys.argv[1]), sys.argv[2]
rows = [("LM-adapted", "zero-shot", "lm_adapted"), ("LM-adapted", "prompt-tuned", "pt_lm_adapted"),
        ("instruction-tuned", "zero-shot", "instruction_tuned"),
        ("instruction-tuned", "prompt-tuned", "pt_instruction_tuned")]
results = {d: json.loads((root / d / "eval" / name / "results.json").read_text())
           for _, _, d in rows}
metrics = sorted({m for r in results.values() for m in r["overall"]})
print(f"| base | {name} | " + " | ".join(metrics) + " |")
print("|---|---|" + "---|" * len(metrics))
for base, how, d in rows:
  print(f"| {base} | {how} | " + " | ".join(f"{results[d]['overall'].get(m, float('nan')):.1f}"
                                           for m in metrics) + " |")
PY
