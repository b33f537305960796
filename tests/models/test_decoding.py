"""Cached decoding agrees with full forward passes, sharded over 8 simulated devices."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from models import decoding, sampling
from tests.model_configs import TINY_LLAMA, TINY_T5, module_for, random_batch
from trainer import partitioning, train_state

RULES = partitioning.logical_axis_rules()
MAX_NEW = 7


def sharded_params(module, config, mesh_shape=(-1, 1, 1)):
  """(mesh, params, param shardings); (1, 1, 1) is one device, compiling faster."""
  devices = None if -1 in mesh_shape else jax.devices()[:int(np.prod(mesh_shape))]
  mesh = partitioning.make_mesh(*mesh_shape, devices=devices)
  example = random_batch(config)
  _, shardings = train_state.state_shardings(module, optax.identity(), example, mesh, RULES)
  state = train_state.create_train_state(module, optax.identity(), example, shardings, mesh,
                                         RULES, seed=3)
  return mesh, state.params, shardings.params


def prompts_for(config, batch_size=8, seed=1):
  """Encoder inputs (T5) or BOS-led right-padded prompts of different lengths (Llama)."""
  rng = np.random.default_rng(seed)
  width = 9
  lengths = rng.integers(2, width + 1, size=batch_size).astype(np.int32)
  tokens = rng.integers(2, config.vocab_size, size=(batch_size, width)).astype(np.int32)
  tokens[np.arange(width)[None, :] >= lengths[:, None]] = 0
  if config.is_encoder_decoder:
    return {"encoder_input_tokens": tokens}
  tokens[:, 0] = decoding.BOS_ID
  return {"decoder_prompt_tokens": tokens, "decoder_prompt_lengths": lengths}


def full_forward_logits(module, params, prompts, generated, bidirectional_prompt):
  """Logits predicting each generated token, from one uncached pass per batch."""
  b, n = generated.shape
  if module.config.is_encoder_decoder:
    inputs = np.concatenate([np.zeros((b, 1), np.int32), generated[:, :-1]], axis=1)
    batch = {"encoder_input_tokens": prompts["encoder_input_tokens"],
             "decoder_input_tokens": inputs,
             "decoder_target_tokens": np.ones_like(inputs)}  # only marks rows valid
    return np.asarray(module.apply({"params": params}, batch))
  lengths = prompts["decoder_prompt_lengths"]
  width = prompts["decoder_prompt_tokens"].shape[1] + n
  inputs = np.zeros((b, width), np.int32)
  valid = np.zeros((b, width), np.int32)
  prefix = np.zeros((b, width), np.int32)
  for row, length in enumerate(lengths):
    inputs[row, :length] = prompts["decoder_prompt_tokens"][row, :length]
    inputs[row, length:length + n] = generated[row]
    valid[row, :length + n] = 1
    prefix[row, :length] = 1
  batch = {"decoder_input_tokens": inputs, "decoder_target_tokens": valid}
  if bidirectional_prompt:
    batch["decoder_causal_attention"] = prefix
  logits = np.asarray(module.apply({"params": params}, batch))
  return np.stack([logits[row, length - 1:length - 1 + n] for row, length in enumerate(lengths)])


CASES = [(TINY_T5, False, False), (TINY_LLAMA, False, False), (TINY_LLAMA, True, True)]


@pytest.mark.parametrize("config,bidirectional_prompt,scan_layers", CASES,
                         ids=["t5", "llama_causal", "llama_prefix_lm_scanned"])
def test_cached_greedy_equals_argmax_of_full_forward(config, bidirectional_prompt,
                                                     scan_layers):
  module = module_for(config, scan_layers=scan_layers)
  mesh, params, param_shardings = sharded_params(module, config)
  assert mesh.devices.size == 8
  prompts = prompts_for(config)
  run = decoding.compile_generate(module, mesh, RULES, param_shardings,
                                  max_new_tokens=MAX_NEW, eos_id=-1,
                                  bidirectional_prompt=bidirectional_prompt)
  out = jax.device_get(run(params, prompts, jax.random.key(0)))
  assert out.tokens.shape == (8, MAX_NEW)
  logits = full_forward_logits(module, jax.device_get(params), prompts, out.tokens,
                               bidirectional_prompt)
  np.testing.assert_array_equal(out.tokens, logits.argmax(-1))
  want_log_probs = np.take_along_axis(jax.nn.log_softmax(logits), out.tokens[..., None],
                                      axis=-1)[..., 0]
  np.testing.assert_allclose(out.log_probs, want_log_probs, atol=2e-4)
  np.testing.assert_array_equal(out.lengths, MAX_NEW)


def test_eos_ends_a_row_and_pads_the_rest():
  module = module_for(TINY_T5)
  mesh, params, shardings = sharded_params(module, TINY_T5, (1, 1, 1))
  prompts = prompts_for(TINY_T5)
  run = decoding.compile_generate(module, mesh, RULES, shardings, max_new_tokens=MAX_NEW,
                                  eos_id=-1)
  free = jax.device_get(run(params, prompts, jax.random.key(0)))
  # Declare the token that row 0 emits third to be EOS: row 0 must stop there.
  eos = int(free.tokens[0, 2])
  stopped = jax.device_get(decoding.compile_generate(
      module, mesh, RULES, shardings, max_new_tokens=MAX_NEW, eos_id=eos)(
          params, prompts, jax.random.key(0)))
  first_eos = int(np.argmax(free.tokens[0] == eos))
  assert stopped.lengths[0] == first_eos + 1
  np.testing.assert_array_equal(stopped.tokens[0, :first_eos + 1], free.tokens[0, :first_eos + 1])
  assert (stopped.tokens[0, first_eos + 1:] == decoding.PAD_ID).all()
  assert (stopped.log_probs[0, first_eos + 1:] == 0).all()


def test_sampling_filters():
  logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))
  top_k = sampling.filtered_logits(logits, sampling.SamplingConfig(1.0, top_k=2))
  assert np.isfinite(np.asarray(jax.nn.softmax(top_k))).all()
  np.testing.assert_allclose(np.asarray(jax.nn.softmax(top_k))[0], [0.625, 0.375, 0, 0],
                             atol=1e-6)
  top_p = sampling.filtered_logits(logits, sampling.SamplingConfig(1.0, top_p=0.7))
  np.testing.assert_allclose(np.asarray(jax.nn.softmax(top_p))[0], [0.625, 0.375, 0, 0],
                             atol=1e-6)
  draws = jax.vmap(lambda k: sampling.next_tokens(k, top_p, sampling.SamplingConfig(1.0)))(
      jax.random.split(jax.random.key(0), 2000))
  counts = np.bincount(np.asarray(draws).ravel(), minlength=4) / 2000
  np.testing.assert_allclose(counts, [0.625, 0.375, 0, 0], atol=0.04)
  with pytest.raises(ValueError, match="top_p"):
    sampling.SamplingConfig(1.0, top_p=0.0)
