"""INITIAL_CHECKPOINT_PATH: a fresh SFT run starts from a HuggingFace directory (T5, Llama)
with exactly its weights, eval.py evaluates that directory directly (same results as the
run's own checkpoint of those weights), a GGUF file loads as its importer places it, and a
checkpoint of another shape is refused before MODEL_DIR is created."""
import dataclasses
import os
import re

import jax
import numpy as np
import optax
import pytest

pytest.importorskip("transformers")

# pylint: disable=wrong-import-position
import tasks  # registers the suite  # pylint: disable=unused-import
from interop import gguf_import, hf_config, hf_import
from models import make_model
from interop.checkpoint_source import CheckpointError
from tests.interop import hf_helpers
from tests.interop.test_hf_parity import LLAMA_HF, T5_HF
from trainer import eval_stage, evaluation, initial_checkpoint, loop, partitioning, restore

TASK = "suite_word_category"
LENGTHS = {"inputs": 24, "targets": 6}
# The suite's vocabulary (2,048 pieces); everything else the parity tests' tiny shapes.
HF_DICTS = {"t5": dict(T5_HF, vocab_size=2048), "llama": dict(LLAMA_HF, vocab_size=2048)}


def hf_directory(tmp_path, name):
  directory = tmp_path / f"hf_{name}"
  hf_helpers.hf_model(HF_DICTS[name]).save_pretrained(directory)
  return str(directory)


def train_from(path, model_dir, config, steps=2):
  """`steps` SFT steps at learning rate 0: the saved parameters are the starting ones."""
  return loop.train(str(model_dir), steps, mixture_or_task_name=TASK,
                    task_feature_lengths=LENGTHS, batch_size=8,
                    model=make_model(config, pack=False),
                    optimizer=optax.sgd(0.0), learning_rate=optax.constant_schedule(0.0),
                    log_every=1, checkpoint_every=steps, peak_flops_per_device=1e11,
                    initial_checkpoint_path=path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["t5", "llama"])
def test_fresh_run_starts_from_the_hf_weights_and_eval_reads_them(name, tmp_path):
  path = hf_directory(tmp_path, name)
  assert initial_checkpoint.kind(path) == initial_checkpoint.HUGGINGFACE
  config = hf_config.model_config(HF_DICTS[name])
  state, metrics = train_from(path, tmp_path / "run", config)
  assert int(state.step) == 2 and np.isfinite(metrics["loss"])
  mesh, rules = partitioning.make_mesh(), partitioning.logical_axis_rules()
  _, expected = hf_import.load_hf_checkpoint(path, mesh, rules, config=config)
  model = make_model(config)
  abstract, _ = restore.abstract_params(model.module, model.init_batch(), mesh, rules)
  saved, step = restore.restore_params(str(tmp_path / "run"), abstract)
  assert step == 2
  jax.tree.map(np.testing.assert_array_equal, saved, expected)

  # eval.py on the HF directory itself equals eval of the run's checkpoint of its weights.
  ev = evaluation.Evaluation("small", TASK, LENGTHS, batch_size=8, num_examples=8)
  direct = eval_stage.evaluate(str(tmp_path / "eval_hf"), model=model, evaluation=ev,
                               checkpoint_path=path)
  via_run = eval_stage.evaluate(str(tmp_path / "run"), model=model, evaluation=ev)
  assert direct["tasks"] == via_run["tasks"]


def test_mismatched_config_is_refused_before_model_dir_exists(tmp_path):
  path = hf_directory(tmp_path, "llama")
  wrong = hf_config.model_config(dict(HF_DICTS["llama"], intermediate_size=96))
  model_dir = tmp_path / "run"
  with pytest.raises(CheckpointError,
                     match=re.escape(path) + r".*mlp_dim: chosen 96, checkpoint 64"):
    train_from(path, model_dir, wrong)
  assert not os.path.exists(model_dir)


def test_unknown_kind_is_named(tmp_path):
  with pytest.raises(CheckpointError,
                     match=re.escape(f"initial checkpoint {tmp_path}: neither")):
    initial_checkpoint.kind(str(tmp_path))


def test_gguf_file_loads_as_the_importer_places_it(tmp_path):
  pytest.importorskip("gguf")
  from tests.interop import test_gguf  # pylint: disable=import-outside-toplevel
  _, path = test_gguf.tiny(tmp_path)
  assert initial_checkpoint.kind(path) == initial_checkpoint.GGUF
  mesh, rules = partitioning.make_mesh(), partitioning.logical_axis_rules()
  config, expected = gguf_import.load_gguf(path, mesh, rules)
  model = make_model(config)
  abstract, shardings = restore.abstract_params(model.module, model.init_batch(), mesh, rules)
  initial_checkpoint.check(path, config, abstract)
  params = initial_checkpoint.load(path, config, abstract, shardings)
  jax.tree.map(np.testing.assert_array_equal, params, expected)
  wrong = dataclasses.replace(config, num_decoder_layers=3)
  wrong_model = make_model(wrong)
  abstract, _ = restore.abstract_params(wrong_model.module, wrong_model.init_batch(), mesh,
                                        rules)
  with pytest.raises(CheckpointError, match=re.escape(path) + r".*num_decoder_layers: "
                                            r"chosen 3, checkpoint 2"):
    initial_checkpoint.check(path, wrong, abstract)
