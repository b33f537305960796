"""Prefix tuning and P-tuning v2 on both model kinds: prefixes holding the keys and values a
hard prompt produces give that hard prompt's logits, only the prefixes train, cached
decoding with the prefixes in the cache equals the full forward, the stored plain prefixes
give the reparameterised logits, bad lengths fail first."""
import jax
import numpy as np
import pytest

from models import peft
from models.layers import DenseGeneral
from models.peft import param_trees
from tests.model_configs import TINY_LLAMA, random_batch
from tests.models.peft.test_methods import init, logits, perturbed
from tests.models.peft.test_soft_prompts import (
    CONFIGS, WORDS, check_cached_greedy_equals_full_forward, check_gradients_reach_only,
    check_stored_form_gives_the_same_logits, tuned_model, with_hard_prompt)

METHODS = {"prefix_tuning": lambda: peft.PrefixTuning(length=3, hidden_dim=8),
           "p_tuning_v2": lambda: peft.PTuningV2(length=3)}


def projected_keys_values(model, params, batch):
  """{path of a key or value projection: its outputs [b, t, kv_heads, head_dim]}."""
  _, state = jax.jit(lambda p: model.module.apply(
      {"params": p}, batch, mutable=["intermediates"],
      capture_intermediates=lambda m, _: isinstance(m, DenseGeneral) and m.name in (
          "key", "value")))(params)
  return {path[:-1]: outputs[0] for path, outputs in
          param_trees.flat(state["intermediates"]).items()}


@pytest.mark.parametrize("config_name", [pytest.param("t5", marks=pytest.mark.slow), "llama"])
def test_prefixes_of_a_hard_prompts_keys_and_values_are_the_hard_prompt(config_name):
  """Masks, positions and which attentions: every real position attends to the prefix as
  to words in front (T5: the encoder's both ways, and the cross-attention; the decoder-only
  causally, rotated as positions 0 .. P-1), and only the real targets are output."""
  config = CONFIGS[config_name]
  plain = tuned_model(config, None)
  tuned = tuned_model(config, peft.PTuningV2(length=len(WORDS)))
  base = perturbed(init(plain))
  # One row: T5's encoder keys of the words depend on the row's input.
  batch = random_batch(config, batch_size=1, inputs_len=6, targets_len=5)
  hard_batch = with_hard_prompt(batch, WORDS, config.is_encoder_decoder)
  projected = projected_keys_values(plain, base, hard_batch)
  prefixes = {}
  for path in param_trees.flat(tuned.split_params(init(tuned))[1]):
    owner, name = path[:-2], path[-1]
    prefixes[path] = projected[owner + (name,)][0, :len(WORDS)]
  params = tuned.join_params(base, param_trees.nested(prefixes))
  hard = logits(plain, base, hard_batch)
  prefixed = logits(tuned, params, batch)
  assert prefixed.shape == batch["decoder_target_tokens"].shape + (config.vocab_size,)
  real = batch["decoder_target_tokens"] > 0
  np.testing.assert_allclose(prefixed[real], hard[:, hard.shape[1] - prefixed.shape[1]:][real],
                             atol=1e-5)
  # A different prefix changes the outputs: the prefix is read.
  moved = logits(tuned, perturbed(params), batch)
  assert np.abs(moved - prefixed)[real].max() > 1e-3


@pytest.mark.parametrize("config_name,method", [
    ("t5", "prefix_tuning"), ("llama_scanned", "p_tuning_v2"),
    pytest.param("t5", "p_tuning_v2", marks=pytest.mark.slow),
    pytest.param("llama_scanned", "prefix_tuning", marks=pytest.mark.slow)])
def test_gradients_reach_only_the_prefixes(config_name, method):
  config = CONFIGS[config_name]
  flat = check_gradients_reach_only(config, tuned_model(config, METHODS[method]()),
                                    lambda path: "prefix" in path or "prefix_mlp" in path)
  # Every attention a prefix belongs to: T5's encoder self- and decoder cross-attention.
  attentions = {(path[0], path[-3]) for path in flat if "prefix" in path}
  assert attentions == ({("encoder", "self_attention"), ("decoder", "encoder_decoder_attention")}
                        if config.is_encoder_decoder else {("decoder", "self_attention")})


@pytest.mark.parametrize("config_name,method", [
    pytest.param("t5", "prefix_tuning", marks=pytest.mark.slow),
    ("llama_scanned", "p_tuning_v2")])
def test_cached_greedy_with_prefixes_equals_full_forward(config_name, method):
  config = CONFIGS[config_name]
  check_cached_greedy_equals_full_forward(config, tuned_model(config, METHODS[method]()))


@pytest.mark.parametrize("config_name", [pytest.param("t5", marks=pytest.mark.slow),
                                         "llama_scanned"])
def test_stored_plain_prefixes_give_the_reparameterised_logits(config_name):
  config = CONFIGS[config_name]
  method = peft.PrefixTuning(length=3, hidden_dim=8)
  model = tuned_model(config, method)
  plain_model = tuned_model(config, peft.PrefixTuning(length=3, reparameterize=False))
  stored = check_stored_form_gives_the_same_logits(config, model, plain_model,
                                                   method.plain_prefixes)
  assert not any("prefix_mlp" in path for path in param_trees.flat(stored))
  again = param_trees.flat(method.plain_prefixes(stored))  # plain prefixes stay as they are
  assert all(np.array_equal(again[p], v) for p, v in param_trees.flat(stored).items())


def test_bad_lengths_fail_before_any_work():
  with pytest.raises(ValueError, match=r"prefix_tuning: length must be a whole number >= 1, "
                                       r"got 0"):
    peft.PrefixTuning(length=0)
  with pytest.raises(ValueError, match=r"p_tuning_v2: hidden_dim must be a whole number >= 1, "
                                       r"got 0"):
    peft.PTuningV2(hidden_dim=0)
  model = tuned_model(TINY_LLAMA, peft.PTuningV2(length=24))
  with pytest.raises(ValueError, match=r"p_tuning_v2\(length=24.* a prompt of 24 positions "
                                       r"leaves no room for the input in the configured input "
                                       r"length TASK_FEATURE_LENGTHS\['inputs'\] = 20"):
    model.data_feature_lengths({"inputs": 20, "targets": 8})
  assert model.data_feature_lengths({"inputs": 30, "targets": 8}) == {"inputs": 6,
                                                                      "targets": 8}
