"""train.py with gin/peft/lora.gin: delta checkpoints that name their base, exact resume,
another base refused with MODEL_DIR kept, eval's composition of delta and base; with
gin/peft/prompt_tuning.gin on both kinds: the loss drops, a too long prompt fails first."""
import json
import os
import shutil

import gin
import numpy as np
import pytest

import train as train_script
from models import EncoderDecoderModel
from models.peft import param_trees
from tests.trainer import test_loop
from trainer import eval_stage, frozen_base, partitioning, restore, train_state


def run_lora(model_dir, train_steps, extra=()):
  gin.clear_config()
  bindings = [f"MODEL_DIR = '{model_dir}'", f"TRAIN_STEPS = {train_steps}"]
  train_script.parse_gin(["gin/models/t5_1_1_tiny.gin", "gin/runs/sft.gin", "gin/peft/lora.gin"],
                         bindings + test_loop.SMALL_RUN + ["constant_schedule.learning_rate = 1e-2"]
                         + list(extra))
  return train_script.run_stage()


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
  monkeypatch.chdir(os.path.dirname(train_script.__file__))
  yield
  gin.clear_config()


@pytest.mark.slow  # three short runs and an evaluation restore
def test_lora_run_saves_deltas_resumes_and_refuses_another_base(tmp_path):
  straight, resumed = tmp_path / "straight", tmp_path / "resumed"
  run_lora(straight, 4)
  run_lora(resumed, 2)
  state, _ = run_lora(resumed, 4)
  losses = [r["loss"] for r in test_loop.read_metrics(resumed)]
  np.testing.assert_allclose(losses, [r["loss"] for r in test_loop.read_metrics(straight)],
                             rtol=1e-5)
  assert losses[-1] < losses[0]

  # The checkpoint holds the LoRA leaves only, and the identity of the base.
  saved = param_trees.flat(restore.saved_params_metadata(str(resumed)))
  assert saved and all("lora" in path for path in saved)
  metadata, _ = restore.saved_custom_metadata(str(resumed))
  identity = metadata[frozen_base.METADATA_KEY]
  assert identity["path"] is None and identity["seed"] == 0
  counts = json.loads((resumed / "parameter_counts.json").read_text())
  assert counts["trainable"] == train_state.param_count(state.params) < counts["frozen"]

  # eval.py's composition: the recorded base (seed 0's initialisation) plus the delta.
  model = EncoderDecoderModel()
  mesh, rules = partitioning.make_mesh(), partitioning.logical_axis_rules()
  params, step = eval_stage.delta_on_base(model, str(resumed), None, mesh, rules)
  assert step == 4
  base = frozen_base.load(model, mesh, rules, seed=0)
  assert base.identity["fingerprint"] == identity["fingerprint"]
  for path, leaf in param_trees.flat(state.params).items():
    np.testing.assert_array_equal(np.asarray(param_trees.flat(params)[path]), np.asarray(leaf))

  # Another base (seed 1's initialisation): refused before any step, nothing lost. On a
  # copy without the input state, which refuses another seed first (trainer.input_state).
  other = tmp_path / "other"
  shutil.copytree(resumed, other, ignore=shutil.ignore_patterns("input_state"))
  before = sorted(os.listdir(other / "checkpoints"))
  metrics_before = (other / "metrics.jsonl").read_text()
  with pytest.raises(frozen_base.BaseMismatchError,
                     match=r"checkpoints/4 is a delta of another base: it was trained on the "
                           r"random initialisation of seed 0 .* now is the random "
                           r"initialisation of seed 1"):
    run_lora(other, 6, extra=["train.seed = 1"])
  assert sorted(os.listdir(other / "checkpoints")) == before
  assert (other / "metrics.jsonl").read_text() == metrics_before


MODEL_FILES = {"t5": ["gin/models/t5_1_1_tiny.gin"],
               "llama": ["gin/models/llama_tiny.gin"]}


@pytest.mark.slow  # a short training run per kind
@pytest.mark.parametrize("kind", sorted(MODEL_FILES))
def test_prompt_tuning_sft_lowers_the_loss(kind, tmp_path):
  gin.clear_config()
  bindings = [f"MODEL_DIR = '{tmp_path}'", "TRAIN_STEPS = 6"] + test_loop.SMALL_RUN + [
      "peft.prompt_tuning.length = 4", "train.checkpoint_every = 6"]
  if kind == "llama":
    bindings.append("ModelConfig.num_encoder_layers = 0")
  train_script.parse_gin(MODEL_FILES[kind] + ["gin/runs/sft.gin", "gin/peft/prompt_tuning.gin"],
                         bindings)
  train_script.run_stage()
  losses = [r["loss"] for r in test_loop.read_metrics(tmp_path)]
  assert len(losses) == 6 and losses[-1] < losses[0]
  saved = param_trees.flat(restore.saved_params_metadata(str(tmp_path)))
  assert saved and all("soft_prompt" in path for path in saved)


@pytest.mark.parametrize("method", ["prompt_tuning", "prefix_tuning"])
def test_a_prompt_longer_than_the_inputs_allow_fails_before_the_run(tmp_path, method):
  gin.clear_config()
  model_dir = tmp_path / "run"
  train_script.parse_gin(["gin/models/t5_1_1_tiny.gin", "gin/runs/sft.gin",
                          f"gin/peft/{method}.gin"],
                         [f"MODEL_DIR = '{model_dir}'", "TRAIN_STEPS = 2"] + test_loop.SMALL_RUN
                         + [f"peft.{method}.length = 30"])
  with pytest.raises(ValueError, match=r"a prompt of 30 positions leaves no room for the "
                                       r"input .* TASK_FEATURE_LENGTHS\['inputs'\] = 24"):
    train_script.run_stage()
  assert not model_dir.exists()
