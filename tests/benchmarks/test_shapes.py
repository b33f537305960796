"""Both sides of the side-by-side benchmark build the same architecture from configs.py."""
import jax
import numpy as np
import pytest

from benchmarks import configs
from benchmarks import ours


def our_parameter_count(shape) -> int:
  setup = ours.step_setup(configs.TrainCase(shape, configs.TrainBatch(1, 8, 8)))
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(setup.abstract_state.params))


@pytest.mark.parametrize("shape", list(configs.SHAPES.values()), ids=list(configs.SHAPES))
def test_ours_and_huggingface_have_the_same_parameter_count(shape):
  torch = pytest.importorskip("torch")
  pytest.importorskip("transformers")
  from benchmarks import hf_baseline

  with torch.device("meta"):  # shapes only, nothing allocated
    hf_count = hf_baseline.parameter_count(hf_baseline.hf_model(shape))
  assert our_parameter_count(shape) == hf_count


@pytest.mark.parametrize("case", configs.TRAIN_CASES, ids=lambda c: c.name)
def test_random_batch_matches_the_declared_shapes(case):
  batch = ours.random_batch(case)
  shapes = ours.batch_shapes(case.shape.is_encoder_decoder, case.batch)
  assert {k: (v.shape, v.dtype) for k, v in batch.items()} == {
      k: (s.shape, np.dtype(s.dtype)) for k, s in shapes.items()}
  targets = batch["decoder_target_tokens"]
  # Teacher forcing: decoder inputs are the targets shifted right behind a 0 start token.
  np.testing.assert_array_equal(batch["decoder_input_tokens"][:, 1:], targets[:, :-1])
  assert (batch["decoder_input_tokens"][:, 0] == 0).all() and (targets > 2).all()
  tokens = sum(v.size for k, v in batch.items() if k in ("encoder_input_tokens",
                                                          "decoder_target_tokens"))
  assert tokens == case.batch.tokens_per_step


def test_overrides_may_not_change_the_architecture():
  with pytest.raises(ValueError, match="emb_dim"):
    ours.model_config(configs.LLAMA_TINY, emb_dim=128)


def test_a_shape_that_disagrees_with_its_gin_file_is_named():
  import dataclasses

  wrong = dataclasses.replace(configs.SMOLLM2_135M, d_model=512)
  with pytest.raises(ValueError, match="smollm2_135m.gin sets ModelConfig.emb_dim = 576"):
    ours.model_config(wrong)


def test_the_gin_file_supplies_what_the_shape_leaves_open():
  config = ours.model_config(configs.SMOLLM2_135M)
  assert config.embedding_init_stddev == 0.02 and config.norm_epsilon == 1e-5
  assert ours.model_config(configs.SMOLLM2_135M, scan_layers=False).scan_layers is False


def test_decode_cases_cover_batch_1_and_16_per_shape():
  assert [c.batch.batch_size for c in configs.decode_cases("smollm2_135m")] == [1, 16]
  with pytest.raises(ValueError, match="no decode cases for shape 'llama_tiny'"):
    configs.decode_cases("llama_tiny")
