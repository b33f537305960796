"""The DPO-family stage end to end on tiny T5 and Llama policies: it learns a toy
preference, resumes exactly, and refuses bad input before it starts, losing nothing in
MODEL_DIR."""
import dataclasses
import json
import os

import gin
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tasks import comparisons as comparisons_lib
from tests.model_configs import TINY_LLAMA, TINY_T5, model_for
from tests.trainer.logged_throughput import THROUGHPUT, assert_tokens_per_s_and_mfu
from tests.trainer.rlhf.test_ppo_resume import save_params
from trainer import checkpoints as checkpoints_lib
from trainer import partitioning
from trainer.rlhf.dpo import loop
from trainer.rlhf.dpo.losses import DPOConfig

LLAMA = dataclasses.replace(TINY_LLAMA, vocab_size=2048, num_decoder_layers=1)
T5 = dataclasses.replace(TINY_T5, vocab_size=2048, num_encoder_layers=1, num_decoder_layers=1)
PROMPT_LEN, RESPONSE_LEN, BATCH = 8, 4, 4
WORDS = ("red", "blue", "cat", "dog", "sun", "moon", "tree", "rock", "fish", "bird")


def toy_preference(directory):
  """'yes' over 'maybe' over 'no', whatever the word: 8 train rankings (24 pairs) plus a
  row with one response and one of ties (skipped), 2 held-out rankings (6 pairs)."""
  ranked = [comparisons_lib.Comparison(f"say {w}", ("yes", "maybe", "no"), (0, 1, 2))
            for w in WORDS]
  unusable = [comparisons_lib.Comparison("say hi", ("hi",), (0,)),
              comparisons_lib.Comparison("say ho", ("ho", "ha"), (0, 0))]
  os.makedirs(directory, exist_ok=True)
  comparisons_lib.write_jsonl(os.path.join(directory, "train.jsonl"), ranked[:8] + unusable)
  comparisons_lib.write_jsonl(os.path.join(directory, "heldout.jsonl"), ranked[8:])


def save_sft(directory, config, seed=0):
  mesh = partitioning.make_mesh(devices=jax.devices()[:1])
  model = model_for(config)
  example, _ = model.sequence_batch(jnp.ones((2 * BATCH, PROMPT_LEN), jnp.int32),
                                    jnp.ones((2 * BATCH, RESPONSE_LEN), jnp.int32), 1)
  save_params(directory, model.module, example, mesh, partitioning.logical_axis_rules(), seed)


def train(tmp_path, config, dpo_config, train_steps, **overrides):
  options = dict(model=model_for(config), optimizer=optax.adam(1e-2),
                 learning_rate=optax.constant_schedule(1e-2), config=dpo_config,
                 batch_size=BATCH, train_steps=train_steps, prompt_length=PROMPT_LEN,
                 response_length=RESPONSE_LEN, log_every=1, checkpoint_every=2,
                 mesh=partitioning.make_mesh(devices=jax.devices()[:1]))
  return loop.train_dpo(str(tmp_path / "dpo"), str(tmp_path / "sft"),
                        str(tmp_path / "comparisons"), **dict(options, **overrides))


def logged(tmp_path, name="dpo"):
  with open(tmp_path / name / "metrics.jsonl") as f:
    return [json.loads(line) for line in f]


@pytest.mark.slow
@pytest.mark.parametrize("config, dpo_config", [
    (T5, DPOConfig(loss_type="dpo", beta=0.5)),
    (LLAMA, DPOConfig(loss_type="dpo", beta=0.5)),
    (LLAMA, DPOConfig(loss_type="simpo", beta=2.0, simpo_gamma=0.5))],
    ids=["t5-dpo", "llama-dpo", "llama-simpo"])
def test_stage_learns_a_toy_preference(tmp_path, config, dpo_config):
  save_sft(tmp_path / "sft", config)
  toy_preference(tmp_path / "comparisons")
  (tmp_path / "dpo").mkdir()
  (tmp_path / "dpo" / "notes.txt").write_text("mine")
  _, _, results = train(tmp_path, config, dpo_config, 12)
  assert results["train_pairs"] == 24 and results["heldout_pairs"] == 6
  assert results["skipped_fewer_than_two"] == 1 and results["skipped_only_ties"] == 1
  assert results["heldout_reward_accuracy"] == 1.0
  assert results["heldout_reward_accuracy_at_start"] < 1.0
  assert results["heldout_loss"] < results["heldout_loss_at_start"]
  assert np.isfinite(results["kl_to_reference"]) and results["kl_to_reference"] > 0
  metrics = logged(tmp_path)
  assert [m["step"] for m in metrics] == list(range(1, 13))
  assert metrics[-1]["reward_accuracy"] > metrics[0]["reward_accuracy"]
  for name in ("loss", "reward_margin", "chosen_rewards", "rejected_rewards", "pairs_per_s"):
    assert np.isfinite(metrics[-1][name]), name
  assert_tokens_per_s_and_mfu(metrics[-1])
  assert (tmp_path / "dpo" / "notes.txt").read_text() == "mine"
  with open(tmp_path / "dpo" / "results.json") as f:
    assert json.load(f) == results


TIMINGS = THROUGHPUT + ("pairs_per_s",)


@pytest.mark.slow
def test_interrupted_run_equals_uninterrupted_run(tmp_path):
  """IPO, reference log-probs cached (the rerun reads them back): 2 steps, then a rerun
  to 4, against 4 at once."""
  save_sft(tmp_path / "sft", LLAMA)
  toy_preference(tmp_path / "comparisons")
  config = DPOConfig(loss_type="ipo", beta=0.5)
  train(tmp_path, LLAMA, config, 2)
  cache = tmp_path / "dpo" / loop.REFERENCE_CACHE
  written = cache.stat().st_mtime_ns
  resumed, _, _ = train(tmp_path, LLAMA, config, 4)
  assert cache.stat().st_mtime_ns == written
  os.rename(tmp_path / "dpo", tmp_path / "resumed")
  whole, _, _ = train(tmp_path, LLAMA, config, 4)
  jax.tree.map(np.testing.assert_array_equal, resumed, whole)
  strip = lambda rows: [{k: v for k, v in r.items() if k not in TIMINGS} for r in rows]
  assert strip(logged(tmp_path, "resumed")) == strip(logged(tmp_path))


def test_rows_without_pairs_fail_before_the_stage_starts(tmp_path):
  directory = tmp_path / "comparisons"
  directory.mkdir()
  (directory / "train.jsonl").write_text(
      json.dumps({"prompt": "p", "responses": ["only"], "ranks": [0]}) + "\n")
  with pytest.raises(ValueError, match=r"train.jsonl: no preference pair.*line 1: 1 response"):
    train(tmp_path, LLAMA, DPOConfig(), 1)
  assert not (tmp_path / "dpo").exists()


def test_a_reference_of_another_config_fails_before_the_stage_starts(tmp_path):
  save_sft(tmp_path / "sft", dataclasses.replace(LLAMA, emb_dim=16))
  toy_preference(tmp_path / "comparisons")
  (tmp_path / "dpo").mkdir()
  (tmp_path / "dpo" / "notes.txt").write_text("mine")
  with pytest.raises(checkpoints_lib.IncompatibleCheckpointError,
                     match="does not match the model config"):
    train(tmp_path, LLAMA, DPOConfig(), 1)
  assert os.listdir(tmp_path / "dpo") == ["notes.txt"]


def test_the_run_file_reaches_the_stage_with_its_bindings(tmp_path, monkeypatch):
  """gin/runs/dpo.gin: train.py's stage is train_dpo with the bound loss; a missing SFT
  run is named after the data are read, before MODEL_DIR is made."""
  import train as train_script  # pylint: disable=import-outside-toplevel
  monkeypatch.chdir(os.path.dirname(train_script.__file__))
  toy_preference(tmp_path / "comparisons")
  gin.clear_config()
  try:
    train_script.parse_gin(["gin/models/llama_tiny.gin", "gin/runs/dpo.gin"], [
        f"MODEL_DIR='{tmp_path / 'dpo'}'", f"SFT_DIR='{tmp_path / 'sft'}'",
        f"COMPARISONS_DIR='{tmp_path / 'comparisons'}'", "DPOConfig.loss_type='orpo'",
        "train_dpo.batch_size=4"])
    assert gin.query_parameter("DPOConfig.loss_type") == "orpo"
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "sft")):
      train_script.run_stage()
  finally:
    gin.clear_config()
  assert not (tmp_path / "dpo").exists()
