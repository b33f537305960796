"""The reward-model stage end to end on a tiny model through the stage runner: trunk from
the SFT run, trained, normalised, saved and reported; a rerun reads the results; a
vocabulary larger than the model's embedding is refused before any work."""
import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import optax
import pytest

from tasks import comparisons as comparisons_lib
from tasks import vocab as vocab_lib
from tests.model_configs import TINY_LLAMA, model_for
from tests.trainer.logged_throughput import assert_tokens_per_s_and_mfu
from tests.trainer.rlhf.test_ppo_resume import save_params
from trainer import partitioning, restore
from trainer.rlhf import reward_loop

CONFIG = dataclasses.replace(TINY_LLAMA, vocab_size=2048, num_decoder_layers=1)
PROMPT_LEN, RESPONSE_LEN, BATCH = 16, 4, 4


def write_comparisons(directory, count):
  rows = [comparisons_lib.Comparison(f"say {word}", (word, "no", "maybe"), (0, 2, 1))
          for word in ("yes", "red", "blue", "cat", "dog", "sun", "moon", "tree")[:count]]
  os.makedirs(directory, exist_ok=True)
  comparisons_lib.write_jsonl(os.path.join(directory, "train.jsonl"), rows)
  comparisons_lib.write_jsonl(os.path.join(directory, "heldout.jsonl"), rows[:2])


def train(tmp_path, **overrides):
  options = dict(model=model_for(CONFIG), optimizer=optax.adam(1e-3),
                 learning_rate=optax.constant_schedule(1e-3), batch_size=BATCH, epochs=2,
                 prompt_length=PROMPT_LEN, response_length=RESPONSE_LEN, log_every=1,
                 mesh=partitioning.make_mesh(devices=jax.devices()[:1]))
  return reward_loop.train_reward_model(str(tmp_path / "reward"), str(tmp_path / "sft"),
                                        str(tmp_path / "comparisons"),
                                        **dict(options, **overrides))


def test_reward_stage_trains_normalises_and_saves(tmp_path):
  mesh = partitioning.make_mesh(devices=jax.devices()[:1])
  rules = partitioning.logical_axis_rules()
  model = model_for(CONFIG)
  example, _ = model.sequence_batch(jnp.ones((BATCH, PROMPT_LEN), jnp.int32),
                                    jnp.ones((BATCH, RESPONSE_LEN), jnp.int32), 1)
  save_params(tmp_path / "sft", model.module, example, mesh, rules, 0)
  write_comparisons(tmp_path / "comparisons", 8)
  results = train(tmp_path)
  assert results["steps"] == 4 and results["train_comparisons"] == 8
  assert 0.0 <= results["heldout_pair_accuracy"] <= 1.0
  with open(tmp_path / "reward" / "metrics.jsonl") as f:
    logged = [json.loads(line) for line in f]
  assert [m["step"] for m in logged] == [1, 2, 3, 4]
  assert_tokens_per_s_and_mfu(logged[-1])
  abstract, _ = restore.abstract_params(model.scalar_head(), example, mesh, rules)
  _, step = restore.restore_params(str(tmp_path / "reward"), abstract)
  assert step == 4
  assert train(tmp_path) == results  # a rerun reads results.json


def test_vocabulary_larger_than_the_embedding_is_refused(tmp_path):
  small = dataclasses.replace(CONFIG, vocab_size=1024)
  with pytest.raises(ValueError, match=r"train_reward_model: the vocabulary has 2048 tokens "
                                       r"but the model's embedding has only 1024 rows"):
    train(tmp_path, model=model_for(small), vocabulary=vocab_lib.default_vocabulary())
  assert not os.path.exists(tmp_path / "reward")
