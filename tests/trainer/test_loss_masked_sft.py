"""A tiny SFT run on the ReAct trajectories, in both model kinds: the loss counts only the
model-written tokens (the observations' loss mask reaches the training step)."""
import json

import gin
import numpy as np
import pytest

import tasks  # noqa: F401  (registers the tool suite)
import train as train_script
from models import ModelConfig, make_model
from tests.trainer.test_loop import _repo_cwd  # noqa: F401  (autouse: runs from the repo)
from trainer import data

TASK = "tool_multi_hop_react"
LENGTHS = {"inputs": 160, "targets": 256}
BATCH, SEED = 8, 0  # one row per simulated device
SMALL = ["ModelConfig.emb_dim = 32", "ModelConfig.mlp_dim = 64", "ModelConfig.num_heads = 2",
         "ModelConfig.head_dim = 16", "ModelConfig.num_decoder_layers = 1",
         f"MIXTURE_OR_TASK_NAME = '{TASK}'", f"TASK_FEATURE_LENGTHS = {LENGTHS}",
         f"BATCH_SIZE = {BATCH}", "train.log_every = 1", "train.checkpoint_every = 100",
         "train.peak_flops_per_device = 1e11"]
MODELS = {"t5": ("gin/models/t5_1_1_tiny.gin", ["ModelConfig.num_encoder_layers = 1"]),
          "llama": ("gin/models/llama_tiny.gin", [])}


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(MODELS))
def test_sft_on_trajectories_trains_on_the_model_tokens_only(tmp_path, kind):
  model_file, extra = MODELS[kind]
  gin.clear_config()
  train_script.parse_gin([model_file, "gin/runs/sft.gin"],
                         [f"MODEL_DIR = '{tmp_path}'", "TRAIN_STEPS = 2"] + SMALL + extra)
  model = make_model(ModelConfig())  # as gin configured it
  train_script.run_stage()
  with open(tmp_path / "metrics.jsonl") as f:
    logged = [json.loads(line) for line in f]
  assert [row["step"] for row in logged] == [1, 2]
  assert all(np.isfinite(row["loss"]) for row in logged)
  # The first batch again, from the same pipeline, with and without the loss mask.
  def first_batch_weights(apply_loss_mask):
    converter = model.feature_converter(True, apply_loss_mask=apply_loss_mask)
    batches = data.training_dataset(TASK, LENGTHS, converter, BATCH, SEED)
    return int(next(batches.as_numpy_iterator())["decoder_loss_weights"].sum())
  masked, unmasked = first_batch_weights(True), first_batch_weights(False)
  assert logged[0]["target_tokens"] == masked
  assert 0 < masked < 0.8 * unmasked  # the observations are a good part of a trajectory
