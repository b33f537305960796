"""The chunked cross-entropy equals the whole-logits one, values and gradients, in both model
kinds and through the SFT step, and never materialises the [b, t, vocab] logits."""
import dataclasses
import functools

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import DecoderOnlyModel, make_model
from tests.model_configs import TINY_LLAMA, TINY_T5, model_for, random_batch
from trainer import optimizers
from trainer.sft_step import sft_step
from trainer.train_state import TrainState

CONFIGS = {
    "llama_tied": TINY_LLAMA,
    "llama_untied": dataclasses.replace(TINY_LLAMA, tie_embeddings=False),
    "t5": TINY_T5,
}
LOSS_OPTIONS = {"z_loss": 1e-2, "label_smoothing": 0.1}
CHUNK = 4  # divides the test batches' lengths: 20 (decoder-only) and 8 (T5 targets)


@functools.cache
def params_for(name: str):
  config = CONFIGS[name]
  init = jax.jit(model_for(config).module.init)
  return nn.unbox(init(jax.random.key(0), random_batch(config))["params"])


def loss_and_grads(model, params, batch):
  def loss(p):
    sums = model.loss_sums(p, batch, **LOSS_OPTIONS)
    return sums["loss_sum"], sums
  return jax.jit(jax.value_and_grad(loss, has_aux=True))(params)


def assert_trees_close(got, want, rtol=1e-5):
  def close(a, b):
    scale = float(np.max(np.abs(b))) or 1.0
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)
  jax.tree.map(close, got, want)


@pytest.mark.parametrize("name", CONFIGS)
def test_chunked_loss_and_gradients_equal_the_plain_loss(name):
  config, params = CONFIGS[name], params_for(name)
  batch = random_batch(config)
  (_, want_sums), want_grads = loss_and_grads(model_for(config), params, batch)
  (_, got_sums), got_grads = loss_and_grads(
      make_model(config, loss_chunk_size=CHUNK), params, batch)
  assert set(got_sums) == {"loss_sum", "z_loss_sum", "correct_sum", "weight_sum"}
  assert float(want_sums["z_loss_sum"]) > 0  # the options are on
  assert_trees_close(got_sums, want_sums)
  assert_trees_close(got_grads, want_grads)


def test_sft_step_with_chunked_loss_matches_the_plain_loss():
  # Dropout on: both losses apply the network the same way, so they draw the same masks.
  config = dataclasses.replace(CONFIGS["llama_untied"], dropout_rate=0.1)
  params, batch = params_for("llama_untied"), random_batch(config)
  optimizer = optimizers.adamw(1e-3, weight_decay=0.0, max_grad_norm=None)

  def one_step(model):
    step = jax.jit(functools.partial(
        sft_step, loss_sums_fn=model.loss_sums, optimizer=optimizer,
        learning_rate_fn=optimizers.constant_schedule(1e-3), **LOSS_OPTIONS))
    return step(TrainState(np.int32(0), params, optimizer.init(params)), batch)

  want_state, want_metrics = one_step(model_for(config))
  got_state, got_metrics = one_step(make_model(config, loss_chunk_size=CHUNK))
  assert_trees_close(got_metrics, want_metrics)
  assert_trees_close(got_state.params, want_state.params)


def _largest_vocab_value(fn, *args) -> tuple:
  """Shape of the largest intermediate with a trailing vocab axis in fn's jaxpr, loops and
  rematerialised blocks included."""
  vocab = TINY_LLAMA.vocab_size
  largest = ()

  def visit(jaxpr):
    nonlocal largest
    for eqn in jaxpr.eqns:
      for var in eqn.outvars:
        shape = getattr(var.aval, "shape", ())
        if shape and shape[-1] == vocab and len(shape) >= 3 and (
            np.prod(shape) > np.prod(largest or (0,))):
          largest = shape
      for param in eqn.params.values():
        for sub in param if isinstance(param, (tuple, list)) else (param,):
          if isinstance(sub, jax.extend.core.ClosedJaxpr):
            visit(sub.jaxpr)
          elif isinstance(sub, jax.extend.core.Jaxpr):
            visit(sub)

  visit(jax.make_jaxpr(fn)(*args).jaxpr)
  return largest


def test_chunked_loss_holds_one_chunk_of_logits_at_a_time():
  params, batch = params_for("llama_tied"), random_batch(TINY_LLAMA)
  b, t = batch["decoder_target_tokens"].shape

  def grads(model):
    return jax.grad(lambda p: model.loss_sums(p, batch, **LOSS_OPTIONS)["loss_sum"])

  assert _largest_vocab_value(grads(model_for(TINY_LLAMA)), params) == (
      b, t, TINY_LLAMA.vocab_size)
  assert _largest_vocab_value(grads(make_model(TINY_LLAMA, loss_chunk_size=CHUNK)),
                              params) == (b, CHUNK, TINY_LLAMA.vocab_size)


def test_chunk_size_that_does_not_divide_the_length_names_both():
  model = make_model(TINY_LLAMA, loss_chunk_size=6)
  batch = random_batch(TINY_LLAMA)  # length 20
  with pytest.raises(ValueError, match=r"chunk size 6 does not divide .* length 20.*e\.g\. 5"):
    model.loss_sums(params_for("llama_tied"), batch)


@pytest.mark.parametrize("size", [0, -4, 2.5, "8"])
def test_loss_chunk_size_must_be_a_positive_int(size):
  with pytest.raises(ValueError, match="loss_chunk_size"):
    make_model(TINY_T5, loss_chunk_size=size)


def test_loss_chunk_size_is_chosen_in_gin():
  gin.clear_config()
  try:
    gin.parse_config("models.DecoderOnlyModel.loss_chunk_size = 64")
    assert DecoderOnlyModel(TINY_LLAMA).loss_chunk_size == 64
  finally:
    gin.clear_config()
  assert DecoderOnlyModel(TINY_LLAMA).loss_chunk_size is None
