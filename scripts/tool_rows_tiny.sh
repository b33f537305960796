#!/usr/bin/env bash
# The tiny-T5 rows of the tools table: train gin/runs/sft_tiny_tools.gin (extra arguments go
# to train.py, e.g. --gin.TRAIN_STEPS=400), then evaluate it without tools, with PAL, RAG and
# ReAct (gin/runs/eval_tools_tiny.gin), and print the table with each step's wall time.
#   scripts/tool_rows_tiny.sh /tmp/sft_tiny_tools [train.py arguments...]
#   scripts/tool_rows_tiny.sh --table /tmp/sft_tiny_tools   # only the table, from results
# EVAL_ARGS (e.g. "--gin.Evaluation.num_examples=16") is added to every eval.py command.
set -euo pipefail
cd "$(dirname "$0")/.."
TABLE_ONLY=false
if [[ "${1:-}" == "--table" ]]; then TABLE_ONLY=true; shift; fi
MODEL_DIR=${1:?usage: scripts/tool_rows_tiny.sh [--table] MODEL_DIR [train.py arguments...]}
shift
mkdir -p "$MODEL_DIR"
TIMES="$MODEL_DIR/wall_times.tsv"

timed() {  # timed NAME command...: runs it, appends "NAME<TAB>seconds" to $TIMES
  local name=$1 start
  shift
  start=$(date +%s)
  "$@" > "$MODEL_DIR/$name.log" 2>&1 || { echo "$name failed; see $MODEL_DIR/$name.log"; exit 1; }
  printf '%s\t%s\n' "$name" "$(( $(date +%s) - start ))" >> "$TIMES"
}

if ! $TABLE_ONLY; then
: > "$TIMES"
timed train python train.py --gin_file=gin/runs/sft_tiny_tools.gin \
  --gin.MODEL_DIR="'$MODEL_DIR'" "$@"
evaluate() {  # evaluate NAME STRATEGY LENGTHS [gin arguments...]
  local name=$1 strategy=$2 lengths=$3
  shift 3
  timed "$name" python eval.py --gin_file=gin/runs/eval_tools_tiny.gin \
    --gin.MODEL_DIR="'$MODEL_DIR'" --gin.STRATEGY="'$strategy'" \
    --gin.Evaluation.name="'$name'" --gin.TASK_FEATURE_LENGTHS="$lengths" "$@" ${EVAL_ARGS:-}
}
evaluate no_tools zero_shot "{'inputs': 256, 'targets': 128}" \
  --gin.Evaluation.mixture_or_task_name="'tool_suite_no_tools'"
evaluate pal pal "{'inputs': 256, 'targets': 160}"
evaluate rag rag "{'inputs': 512, 'targets': 32}"
evaluate react react "{'inputs': 256, 'targets': 160}" --gin.PromptStrategy.top_k=1
fi

python - "$MODEL_DIR" <<'PY'
import json, pathlib, sys
model_dir = pathlib.Path(sys.argv[1])
times_file = model_dir / "wall_times.tsv"
times = dict(line.split("\t") for line in
             (times_file.read_text() if times_file.exists() else "").split("\n") if line)
ROWS = [  # (questions, strategy, evaluation, task, extra metrics)
    ("large-number arithmetic", "direct answer", "no_tools", "tool_large_arithmetic", ()),
    ("large-number arithmetic", "CoT", "no_tools", "tool_large_arithmetic_cot", ()),
    ("large-number arithmetic", "PAL", "pal", "tool_large_arithmetic", ("program_ok",)),
    ("held-out facts", "closed book", "no_tools", "tool_entity_facts", ()),
    ("held-out facts", "RAG (BM25, 4 passages)", "rag", "tool_entity_facts",
     ("recall@4", "citation_precision")),
    ("multi-hop", "no tools", "no_tools", "tool_multi_hop", ()),
    ("multi-hop", "no tools, CoT", "no_tools", "tool_multi_hop_cot", ()),
    ("multi-hop", "RAG (BM25, 4 passages)", "rag", "tool_multi_hop", ("recall@4",)),
    ("multi-hop", "ReAct", "react", "tool_multi_hop", ("finished", "mean_steps", "search_recall")),
]
print("| questions | strategy | exact match | other | checkpoint step |")
print("|---|---|---|---|---|")
for questions, strategy, name, task, extra in ROWS:
  results = json.loads((model_dir / "eval" / name / "results.json").read_text())
  values = results["tasks"][task]
  other = ", ".join(f"{k} {values[k]:.1f}" for k in extra if k in values)
  print(f"| {questions} | {strategy} | {values['exact_match']:.1f} | {other} | {results['step']} |")
print()
print("wall times (s): " + ", ".join(f"{k} {v}" for k, v in times.items()))
PY
