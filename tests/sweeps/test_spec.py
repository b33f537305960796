"""The sweep file: axes, product and zip, labels, explicit arms, and what it refuses."""
import glob
import os

import pytest

from sweeps import commands, gin_check, spec

BASE = """
gin_files: [gin/runs/sft_tiny.gin]
bindings: {TRAIN_STEPS: 2}
"""


def arms(text: str) -> dict[str, spec.Arm]:
  return {a.name: a for a in spec.parse(BASE + text).arms}


def test_product_of_an_axis_and_a_zip():
  result = arms("""
sweep:
  product:
    - {axis: mix, binding: MIXTURE_OR_TASK_NAME, values: [a, b], labels: [A, B]}
    - zip:
        - {axis: lr, binding: constant_schedule.learning_rate, values: [1.0e-3, 3.0e-3]}
        - {axis: bs, binding: BATCH_SIZE, values: [32, 16]}
""")
  assert list(result) == ["mix=A,lr=0.001,bs=32", "mix=A,lr=0.003,bs=16",
                          "mix=B,lr=0.001,bs=32", "mix=B,lr=0.003,bs=16"]
  assert dict(result["mix=B,lr=0.003,bs=16"].train_bindings) == {
      "TRAIN_STEPS": "2", "MIXTURE_OR_TASK_NAME": "'b'",
      "constant_schedule.learning_rate": "0.003", "BATCH_SIZE": "16"}


def test_values_become_gin_literals_and_gin_text_passes_through():
  (arm,) = arms("""
sweep:
  zip:
    - {axis: lengths, binding: TASK_FEATURE_LENGTHS, values: [{inputs: 64, targets: 16}],
       labels: [short]}
    - {axis: opt, binding: OPTIMIZER, values: [!gin '@adamw()']}
    - {axis: flag, binding: ModelConfig.scan_layers, values: [true]}
    - {axis: lr, binding: constant_schedule.learning_rate, values: [1e-3]}
    - {axis: steps, binding: train.log_every, values: [10]}
""").values()
  bindings = dict(arm.train_bindings)
  assert bindings["TASK_FEATURE_LENGTHS"] == "{'inputs': 64, 'targets': 16}"
  assert bindings["OPTIMIZER"] == "@adamw()" and bindings["ModelConfig.scan_layers"] == "True"
  assert bindings["constant_schedule.learning_rate"] == "0.001"
  assert bindings["train.log_every"] == "10"
  assert arm.name == "lengths=short,opt=_adamw__,flag=True,lr=0.001,steps=10"


def test_axis_stage_and_explicit_arms_reach_eval():
  result = arms("""
sweep: {axis: lengths, binding: TASK_FEATURE_LENGTHS, values: [{inputs: 64, targets: 8}],
        labels: [64], stage: both}
arms:
  - {name: untrained, train: false, labels: {lengths: 0},
     eval_bindings: {evaluate.untrained: true}}
eval: {gin_files: [gin/runs/eval_heldout.gin], bindings: {Evaluation.name: x}}
""")
  assert dict(result["lengths=64"].eval_bindings)["TASK_FEATURE_LENGTHS"] == \
      "{'inputs': 64, 'targets': 8}"
  untrained = result["untrained"]
  assert not untrained.train and untrained.labels == (("lengths", "0"),)
  assert dict(untrained.eval_bindings) == {"Evaluation.name": "'x'",
                                           "evaluate.untrained": "True"}
  sweep = spec.parse(BASE + "arms: [{name: untrained, train: false}]\n"
                     "eval: {gin_files: [gin/runs/eval_heldout.gin]}")
  (arm,) = commands.planned_arms(sweep, "/sweeps/s", check_gin=False)
  assert [p[0] for p in arm.programs] == ["eval.py"]
  assert arm.programs[0][-1] == "--gin.MODEL_DIR='/sweeps/s/untrained'"


def test_an_arms_gin_files_follow_the_sweeps_in_train_and_eval():
  sweep = spec.parse(BASE + "arms: [{name: lora, gin_files: [gin/peft/lora.gin]}, {name: full}]\n"
                     "eval: {gin_files: [gin/runs/eval_heldout.gin]}")
  lora, full = commands.planned_arms(sweep, "/sweeps/s", check_gin=False)
  assert [[a for a in p if a.startswith("--gin_file=")] for p in lora.programs] == [
      ["--gin_file=gin/runs/sft_tiny.gin", "--gin_file=gin/peft/lora.gin"],
      ["--gin_file=gin/runs/eval_heldout.gin", "--gin_file=gin/peft/lora.gin"]]
  assert [[a for a in p if a.startswith("--gin_file=")] for p in full.programs] == [
      ["--gin_file=gin/runs/sft_tiny.gin"], ["--gin_file=gin/runs/eval_heldout.gin"]]


@pytest.mark.parametrize("text, message", [
    ("sweep: {axis: a, binding: BATCH_SIZE, values: [8, 8]}", "labels repeat"),
    ("sweep: {product: [{axis: a, binding: BATCH_SIZE, values: [8], labels: [x]},"
     " {axis: b, binding: ModelConfig.dropout_rate, values: [0.1], labels: [x]}]}\n"
     "arms: [{name: 'a=x,b=x'}]", "two arms would share the MODEL_DIR 'a=x,b=x'"),
    ("sweep: {product: [{axis: a, binding: BATCH_SIZE, values: ['x/y']},"
     " {axis: b, binding: ModelConfig.dropout_rate, values: [0.1]}]}\n"
     "arms: [{name: 'a=x_y,b=0.1'}]", "share the MODEL_DIR"),
    ("sweep: {zip: [{binding: BATCH_SIZE, values: [8, 16]},"
     " {binding: TRAIN_STEPS, values: [1]}]}", "different lengths [2, 1]"),
    ("sweep: {product: [{binding: BATCH_SIZE, values: [8]},"
     " {axis: b2, binding: BATCH_SIZE, values: [16]}]}", "both bind BATCH_SIZE"),
    ("sweep: {binding: TRAIN_STEPS, values: [4]}", "fixed train bindings set too"),
    ("sweep: {binding: MODEL_DIR, values: ['/x']}", "other than MODEL_DIR"),
    ("sweep: {binding: BATCH_SIZE, values: [8], stage: later}", "stage 'later'"),
    ("sweep: {binding: BATCH_SIZE, valeus: [8]}", "unknown key(s) ['valeus']"),
    ("sweep: {binding: BATCH_SIZE, values: [8], labels: [a, b]}", "1 values but labels"),
    ("arms: [{name: untrained, train: false}]", "would run nothing"),
    ("arms: [{name: 'a/b'}]", "is a directory name"),
    ("arms: [{name: a, gin_files: gin/peft/lora.gin}]", "gin_files: a list of gin files"),
    ("sweep: {product: []}", "non-empty list"),
    ("", "no arms"),
])
def test_bad_sweep_files_are_refused_naming_the_problem(text, message):
  with pytest.raises(spec.SweepError) as error:
    spec.parse(BASE + text)
  assert message in str(error.value)


def test_presets_parse_and_unknown_names_list_them():
  for name in ("flan_clusters", "flan_templates", "flan_instructions", "smoke_tiny",
               "peft_smollm2"):
    assert spec.load(name).arms
  with pytest.raises(spec.SweepError, match="presets: .*flan_clusters"):
    spec.load("flan_clusterz")
  clusters = spec.load("flan_clusters")
  assert [dict(a.labels)["clusters"] for a in clusters.arms] == ["1", "3", "6", "9", "0"]


def test_peft_preset_has_every_method_beside_full_finetuning_on_one_budget():
  sweep = spec.load("peft_smollm2")
  arms = {a.name: a for a in sweep.arms}
  methods = sorted(os.path.basename(f)[:-len(".gin")] for f in glob.glob(
      os.path.join(gin_check.REPO_DIR, "gin", "peft", "*.gin")))
  assert sorted(n for n, a in arms.items() if a.gin_files) == methods
  assert not arms["untrained"].train and not arms["full_finetuning"].gin_files
  assert all(a.gin_files == (f"gin/peft/{n}.gin",) for n, a in arms.items() if a.gin_files)
  budget = {(dict(a.train_bindings)["TRAIN_STEPS"], dict(a.train_bindings)["BATCH_SIZE"])
            for a in sweep.arms if a.train}
  assert len(budget) == 1
