"""Prompt tuning and P-tuning on both model kinds: a soft prompt at given words' embeddings
is those words as a hard prompt, only the prompt trains, cached decoding with the prompt in
the cache equals the full forward, P-tuning's stored prompt equals its encoder's, bad
lengths fail first."""
import dataclasses

import flax.linen as nn
import jax
import numpy as np
import pytest

from models import make_model, peft
from models.peft import param_trees
from tests.model_configs import TINY_LLAMA, TINY_T5, random_batch
from tests.models import decoding_setups
from tests.models.peft.test_methods import init, logits, perturbed

CONFIGS = {"t5": TINY_T5, "llama": TINY_LLAMA,
           "llama_scanned": dataclasses.replace(TINY_LLAMA, scan_layers=True)}
WORDS = (5, 17, 99)  # the hard prompt of the equivalence test


def tuned_model(config, method, prefix_lm=None):
  options = {} if prefix_lm is None else {"prefix_lm": prefix_lm}
  return make_model(config, pack=False, peft=method, **options)


def with_hard_prompt(batch, words, is_encoder_decoder):
  """The batch with `words` in front of the encoder input, or of the decoder sequence
  (there carrying no loss)."""
  b, p = batch["decoder_target_tokens"].shape[0], len(words)
  front = np.broadcast_to(np.asarray(words, np.int32), (b, p))
  if is_encoder_decoder:
    return dict(batch, encoder_input_tokens=np.concatenate(
        [front, batch["encoder_input_tokens"]], axis=1))
  return {"decoder_input_tokens": np.concatenate([front, batch["decoder_input_tokens"]], 1),
          "decoder_target_tokens": np.concatenate([front, batch["decoder_target_tokens"]], 1),
          "decoder_loss_weights": np.concatenate(
              [np.zeros((b, p), np.float32), batch["decoder_loss_weights"]], 1)}


@pytest.mark.parametrize("config_name", [
    pytest.param("t5", marks=pytest.mark.slow), "llama",
    pytest.param("llama_scanned", marks=pytest.mark.slow)])
def test_soft_prompt_at_word_embeddings_is_the_hard_prompt(config_name):
  """Masks and positions: the soft prompt is attended as tokens in front would be (the
  encoder's both ways, the decoder's causally), and only the real targets are output."""
  config = CONFIGS[config_name]
  plain = make_model(config)
  tuned = tuned_model(config, peft.PromptTuning(length=len(WORDS), label_token_ids=WORDS))
  base = perturbed(init(plain))
  params = tuned.join_params(base, tuned.peft.initial_trainable(
      tuned.split_params(init(tuned))[1], base))
  batch = random_batch(config, batch_size=3, inputs_len=6, targets_len=5)
  hard = logits(plain, base, with_hard_prompt(batch, WORDS, config.is_encoder_decoder))
  soft = logits(tuned, params, batch)
  assert soft.shape == batch["decoder_target_tokens"].shape + (config.vocab_size,)
  real = batch["decoder_target_tokens"] > 0  # padding outputs are nobody's
  np.testing.assert_allclose(soft[real], hard[:, hard.shape[1] - soft.shape[1]:][real],
                             atol=1e-5)
  # Rank classification counts the real targets only.
  scores = jax.jit(tuned.score)(params, batch)
  np.testing.assert_array_equal(scores.num_tokens, batch["decoder_loss_weights"].sum(1))


def test_initialisation_from_sampled_tokens_and_label_words():
  method = peft.PromptTuning(length=4, label_token_ids=((7, 9), 11), sample_range=(3, 50))
  model = tuned_model(TINY_LLAMA, method)
  params = init(model)
  table = np.asarray(params["token_embedder"]["embedding"])
  prompt = np.asarray(params["decoder"]["soft_prompt"]["embedding"])
  np.testing.assert_allclose(prompt[0], table[[7, 9]].mean(0), rtol=1e-6)
  np.testing.assert_allclose(prompt[1], table[11], rtol=1e-6)
  sampled = [int(np.argmin(np.abs(table - row).sum(1))) for row in prompt[2:]]
  assert all(3 <= i < 50 for i in sampled)
  np.testing.assert_allclose(prompt[2:], table[sampled], rtol=1e-6)
  # A fresh run's prompt comes from its base's embedding, not the random one.
  frozen, trainable = model.split_params(params)
  other = perturbed(frozen)
  started = model.peft.initial_trainable(trainable, other)["decoder"]["soft_prompt"]
  np.testing.assert_allclose(started["embedding"][1],
                             other["token_embedder"]["embedding"][11], rtol=1e-6)


METHODS = {"prompt_tuning": lambda: peft.PromptTuning(length=3),
           "p_tuning_lstm": lambda: peft.PTuning(length=3, hidden_dim=8),
           "p_tuning_mlp": lambda: peft.PTuning(length=3, encoder="mlp", hidden_dim=8)}


@pytest.mark.parametrize("config_name", ["t5", "llama_scanned"])
@pytest.mark.parametrize("method", [
    "prompt_tuning", "p_tuning_mlp",
    pytest.param("p_tuning_lstm", marks=pytest.mark.slow)])  # the LSTM's compile
def test_gradients_reach_only_the_prompt(config_name, method):
  config = CONFIGS[config_name]
  check_gradients_reach_only(config, tuned_model(config, METHODS[method]()),
                             lambda path: "soft_prompt" in path)


def check_gradients_reach_only(config, model, is_method_param) -> dict:
  """Asserts the trainable leaves are exactly the method's (by path), carry logical axis
  names (so they shard like the rest) and all get nonzero gradients; returns them flat."""
  boxed = model.module.init(jax.random.key(0), model.init_batch())["params"]
  frozen, trainable = model.split_params(nn.unbox(boxed))
  flat = param_trees.flat(trainable)
  assert flat and all(is_method_param(path) for path in flat)
  assert not any(is_method_param(path) for path in param_trees.flat(frozen))
  specs = param_trees.flat(nn.get_partition_spec(boxed))
  assert all(specs[path] is not None and len(specs[path]) == leaf.ndim
             for path, leaf in flat.items())
  batch = random_batch(config, batch_size=2, inputs_len=6, targets_len=5)
  loss = lambda t: model.loss_sums(model.join_params(frozen, t), batch)["loss_sum"]
  grads = param_trees.flat(jax.jit(jax.grad(loss))(trainable))
  assert set(grads) == set(flat)
  assert all(np.abs(np.asarray(g)).max() > 0 for g in grads.values())
  return flat


@pytest.mark.parametrize("config_name,prefix_lm", [
    pytest.param("t5", None, marks=pytest.mark.slow, id="t5"),
    pytest.param("llama_scanned", False, marks=pytest.mark.slow, id="llama_scanned_causal"),
    pytest.param("llama_scanned", True, id="llama_scanned_prefix_lm")])
def test_cached_greedy_with_a_soft_prompt_equals_full_forward(config_name, prefix_lm):
  config = CONFIGS[config_name]
  model = tuned_model(config, peft.PromptTuning(length=3), prefix_lm=prefix_lm)
  check_cached_greedy_equals_full_forward(config, model, bidirectional_prompt=bool(prefix_lm))


def check_cached_greedy_equals_full_forward(config, model, **forward_logits_kw):
  """Greedy decoding through the KV cache gives the full forward's argmax tokens and their
  log-probs, from perturbed parameters (so the method's own ones are not at their start)."""
  params = perturbed(init(model), scale=0.5)
  prompts = decoding_setups.prompts_for(config, batch_size=4)
  out = jax.device_get(jax.jit(lambda p, x: model.generate(
      p, x, jax.random.key(0), max_new_tokens=6, eos_id=-1))(params, prompts))
  forward = jax.jit(lambda p, batch: model.module.apply({"params": p}, batch))
  full = decoding_setups.forward_logits(forward, config, params, prompts, out.tokens,
                                        **forward_logits_kw)
  np.testing.assert_array_equal(out.tokens, full.argmax(-1))
  want = np.take_along_axis(jax.nn.log_softmax(full), out.tokens[..., None], -1)[..., 0]
  np.testing.assert_allclose(out.log_probs, want, atol=2e-4)


@pytest.mark.slow  # the LSTM's compile, twice
@pytest.mark.parametrize("config_name", ["t5", "llama"])
def test_p_tuning_stored_prompt_gives_the_encoders_outputs(config_name):
  config = CONFIGS[config_name]
  method = peft.PTuning(length=3, hidden_dim=8)
  model, plain_model = tuned_model(config, method), tuned_model(config,
                                                                peft.PromptTuning(length=3))
  check_stored_form_gives_the_same_logits(config, model, plain_model, method.plain_prompt)


def check_stored_form_gives_the_same_logits(config, model, plain_model, store) -> dict:
  """`store` turns trained parameters into the tree `plain_model` reads, with the logits of
  `model`; returns the stored tree."""
  params = perturbed(init(model))
  stored = store(params)
  assert set(param_trees.flat(stored)) == set(param_trees.flat(init(plain_model)))
  batch = random_batch(config, batch_size=2, inputs_len=6, targets_len=5)
  np.testing.assert_allclose(logits(plain_model, stored, batch), logits(model, params, batch),
                             rtol=1e-5, atol=1e-5)
  return stored


def test_bad_lengths_fail_before_any_work():
  with pytest.raises(ValueError, match=r"prompt_tuning: length must be a whole number >= 1, "
                                       r"got 0"):
    peft.PromptTuning(length=0)
  with pytest.raises(ValueError, match=r"p_tuning: length must be .* got -2"):
    peft.PTuning(length=-2)
  model = tuned_model(TINY_LLAMA, peft.PromptTuning(length=24))
  with pytest.raises(ValueError, match=r"a prompt of 24 positions leaves no room for the input "
                                       r"in the configured input length "
                                       r"TASK_FEATURE_LENGTHS\['inputs'\] = 24"):
    model.data_feature_lengths({"inputs": 24, "targets": 8})
  assert model.data_feature_lengths({"inputs": 30, "targets": 8}) == {"inputs": 6,
                                                                      "targets": 8}
  with pytest.raises(ValueError, match=r"pack = False"):
    make_model(TINY_T5, peft=peft.PromptTuning(length=2))


@pytest.mark.parametrize("config_name", ["t5", "llama"])
@pytest.mark.parametrize("with_prompt", [False, True])
def test_output_columns_are_those_columns_of_the_whole_output(config_name, with_prompt):
  config = CONFIGS[config_name]
  model = (tuned_model(config, peft.PromptTuning(length=3)) if with_prompt
           else make_model(config, pack=False))
  params = perturbed(init(model))
  batch = random_batch(config)
  whole = logits(model, params, batch)
  for columns in (slice(-1, None), slice(2, 6)):
    some = np.asarray(jax.jit(lambda p: model.module.apply(
        {"params": p}, batch, output_columns=columns))(params))
    np.testing.assert_allclose(some, whole[:, columns], rtol=1e-6, atol=1e-6)
