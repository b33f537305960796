"""train.py end to end on a small seqio task: logging, checkpoints, resume, gin, bad input."""
import json
import os

import gin
import jax
import numpy as np
import pytest
import seqio
import tensorflow as tf

import train as train_script
from trainer import checkpoints as checkpoints_lib, input_state, non_finite, train_state

TASK = "loop_test_reverse_words"


def _reverse_words_examples(split, shuffle_files, seed=None):
  del shuffle_files, seed
  rng = np.random.default_rng(0 if split == "train" else 1)
  words = ["red", "blue", "green", "cat", "dog", "sun", "moon", "tree"]
  rows = [" ".join(rng.choice(words, size=3)) for _ in range(64)]
  return tf.data.Dataset.from_tensor_slices(
      {"inputs": rows, "targets": [" ".join(r.split()[::-1]) for r in rows]})


if TASK not in seqio.TaskRegistry.names():
  _vocab = seqio.ByteVocabulary()
  seqio.TaskRegistry.add(
      TASK, source=seqio.FunctionDataSource(_reverse_words_examples, splits=["train"]),
      preprocessors=[seqio.preprocessors.tokenize, seqio.preprocessors.append_eos],
      output_features={"inputs": seqio.Feature(_vocab), "targets": seqio.Feature(_vocab)})

SMALL_RUN = [
    "ModelConfig.vocab_size = 384", "ModelConfig.emb_dim = 32", "ModelConfig.mlp_dim = 64",
    "ModelConfig.num_heads = 2", "ModelConfig.head_dim = 16",
    "ModelConfig.num_encoder_layers = 1", "ModelConfig.num_decoder_layers = 1",
    f"MIXTURE_OR_TASK_NAME = '{TASK}'", "TASK_FEATURE_LENGTHS = {'inputs': 24, 'targets': 24}",
    "BATCH_SIZE = 8", "train.log_every = 1", "train.checkpoint_every = 2",
    "train.peak_flops_per_device = 1e11",
]


def run_train(model_dir, train_steps, extra=()):
  gin.clear_config()
  argv = train_script.expand_gin_shorthand(
      [f"--gin.MODEL_DIR='{model_dir}'", f"--gin.TRAIN_STEPS={train_steps}"])
  bindings = [a.split("=", 1)[1] for a in argv] + SMALL_RUN + list(extra)
  train_script.parse_gin(["gin/models/t5_1_1_tiny.gin", "gin/runs/sft.gin"], bindings)
  return train_script.run_stage()


def read_metrics(model_dir):
  with open(os.path.join(model_dir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
  monkeypatch.chdir(os.path.dirname(train_script.__file__))
  yield
  gin.clear_config()


@pytest.mark.slow
def test_train_logs_checkpoints_and_resumes_exactly(tmp_path, capsys):
  straight, resumed = tmp_path / "straight", tmp_path / "resumed"
  run_train(straight, 6)
  run_train(resumed, 4)
  assert sorted(os.listdir(resumed / "checkpoints")) == ["2", "4"]
  assert sorted(os.listdir(resumed / "input_state")) == ["2", "4"]
  capsys.readouterr()
  state, _ = run_train(resumed, 6)  # same command, larger TRAIN_STEPS
  out = capsys.readouterr().out
  assert f"input pipeline restored at step 4 from {resumed / 'input_state'}" in out
  assert "replaying" not in out
  assert int(state.step) == 6
  assert os.path.exists(resumed / "config.gin")
  assert os.path.exists(resumed / "config.resumed_at_4.gin")
  records = read_metrics(resumed)
  assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
  for key in ("loss", "learning_rate", "tokens_per_s", "step_time_s", "mfu"):
    assert all(np.isfinite(r[key]) for r in records), key
  # The resumed run sees the same batches and dropout as the uninterrupted one.
  straight_losses = [r["loss"] for r in read_metrics(straight)]
  np.testing.assert_allclose([r["loss"] for r in records], straight_losses, rtol=1e-5)
  assert straight_losses[-1] < straight_losses[0]


def test_gin_shorthand_override_changes_the_run(tmp_path):
  state, _ = run_train(tmp_path, 1, extra=["ModelConfig.emb_dim = 48"])
  assert state.params["token_embedder"]["embedding"].shape == (384, 48)
  assert "ModelConfig.emb_dim = 48" in (tmp_path / "config.gin").read_text()
  counts = json.loads((tmp_path / "parameter_counts.json").read_text())
  assert counts == {"trainable": train_state.param_count(state.params), "frozen": 0}


def test_misspelled_bindings_fail_naming_them(tmp_path):
  with pytest.raises(ValueError, match="emb_dimm"):
    run_train(tmp_path, 1, extra=["ModelConfig.emb_dimm = 48"])
  with pytest.raises(ValueError, match="did you mean MODEL_DIR"):
    run_train(tmp_path, 1, extra=["MODLE_DIR = '/tmp/elsewhere'"])
  assert not os.listdir(tmp_path)


def test_unwritable_model_dir_fails_before_work(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("keep me")
  with pytest.raises(PermissionError, match="cannot be written"):
    run_train(blocker / "run", 1)
  assert blocker.read_text() == "keep me"


def test_incompatible_checkpoint_is_refused_and_kept(tmp_path):
  run_train(tmp_path, 2)
  before = sorted(os.listdir(tmp_path / "checkpoints"))
  metrics_before = (tmp_path / "metrics.jsonl").read_text()
  with pytest.raises(checkpoints_lib.IncompatibleCheckpointError,
                     match=r"decoder/decoder_norm/scale: checkpoint \(32,\), model \(48,\)"):
    run_train(tmp_path, 4, extra=["ModelConfig.emb_dim = 48"])
  assert sorted(os.listdir(tmp_path / "checkpoints")) == before
  assert (tmp_path / "metrics.jsonl").read_text() == metrics_before


def test_input_state_of_another_config_is_refused_before_any_work(tmp_path):
  run_train(tmp_path, 2)
  metrics_before = (tmp_path / "metrics.jsonl").read_text()
  with pytest.raises(input_state.InputStateMismatchError, match="seed: saved 0, this run 1"):
    run_train(tmp_path, 4, extra=["train.seed = 1"])
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2"]
  assert (tmp_path / "metrics.jsonl").read_text() == metrics_before
  assert not (tmp_path / "config.resumed_at_2.gin").exists()


@pytest.mark.slow
def test_huge_learning_rate_stops_naming_loss_gradients_and_the_first_parameter(tmp_path):
  # Step 1's update makes the parameters infinite; step 2 (a save point) sees it.
  with pytest.raises(non_finite.NonFiniteError,
                     match=r"^step 2: .*grad_norm = nan.* not finite \(.*gradients, "
                           r"parameters; the first non-finite state leaf: params/\w+.*\); "
                           r"stopping without saving this state\.\n"):
    run_train(tmp_path, 4, extra=["constant_schedule.learning_rate = 1e38"])
  assert not os.listdir(tmp_path / "checkpoints")
  assert [r["step"] for r in read_metrics(tmp_path)] == [1]
