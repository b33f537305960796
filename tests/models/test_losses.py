"""The chunked cross-entropy equals the whole-logits one, values and gradients, in both model
kinds and through the SFT step, and never materialises the [b, t, vocab] logits."""
import dataclasses
import functools

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from models import DecoderOnlyModel, make_model
from models.losses import cross_entropy_sums, vocab_chunked_cross_entropy_sums
from tests.model_configs import TINY_LLAMA, TINY_T5, model_for, random_batch
from trainer import optimizers, partitioning, train_state
from trainer.sft_step import sft_step
from trainer.train_state import TrainState

CONFIGS = {
    "llama_tied": TINY_LLAMA,
    "llama_untied": dataclasses.replace(TINY_LLAMA, tie_embeddings=False),
    "t5": TINY_T5,
}
LOSS_OPTIONS = {"z_loss": 1e-2, "label_smoothing": 0.1}
CHUNK = 4  # divides the test batches' lengths: 20 (decoder-only) and 8 (T5 targets)
CHUNKINGS = {
    "positions": {"loss_chunk_size": CHUNK},
    "vocabulary": {"loss_vocab_chunk_size": 32},
    "both": {"loss_chunk_size": CHUNK, "loss_vocab_chunk_size": 32},
}


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


@functools.cache
def plain_loss_and_grads(name: str):
  config = CONFIGS[name]
  return loss_and_grads(model_for(config), params_for(name), random_batch(config))


@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("name", CONFIGS)
def test_chunked_loss_and_gradients_equal_the_plain_loss(name, chunking):
  config = CONFIGS[name]
  (_, want_sums), want_grads = plain_loss_and_grads(name)
  (_, got_sums), got_grads = loss_and_grads(make_model(config, **CHUNKINGS[chunking]),
                                            params_for(name), random_batch(config))
  assert set(got_sums) == {"loss_sum", "z_loss_sum", "correct_sum", "weight_sum"}
  assert float(want_sums["z_loss_sum"]) > 0  # the options are on
  assert_trees_close(got_sums, want_sums)
  assert_trees_close(got_grads, want_grads)


def test_a_target_tied_for_the_best_entry_is_correct_in_both_forms():
  # Entries 1 and 3 tie for the maximum, in two different vocabulary slices.
  hidden = jnp.ones((1, 2, 1))
  table = jnp.array([[0.0], [2.0], [1.0], [2.0]])
  targets = jnp.array([[1, 3]])
  weights = jnp.ones((1, 2))
  attend = lambda h, rows: jnp.einsum("bte,ve->btv", h, rows)
  want = cross_entropy_sums(attend(hidden, table), targets, weights, label_smoothing=0.1)
  got = vocab_chunked_cross_entropy_sums(hidden, table.reshape(2, 2, 1), attend, targets,
                                         weights, vocab_size=4, label_smoothing=0.1)
  assert float(got["correct_sum"]) == float(want["correct_sum"]) == 2.0
  assert_trees_close(got, want)


@pytest.mark.parametrize("chunking", ["positions", "both"])
def test_sft_step_with_chunked_loss_matches_the_plain_loss(chunking):
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
  got_state, got_metrics = one_step(make_model(config, **CHUNKINGS[chunking]))
  assert_trees_close(got_metrics, want_metrics)
  assert_trees_close(got_state.params, want_state.params)


def _largest_vocab_value(fn, *args) -> tuple:
  """Shape of the largest intermediate [8 (the batch), ..., 120 or 24] (logits over a
  vocabulary or a slice of it) in fn's jaxpr, loops and rematerialised blocks included."""
  largest = ()

  def visit(jaxpr):
    nonlocal largest
    for eqn in jaxpr.eqns:
      for var in eqn.outvars:
        shape = getattr(var.aval, "shape", ())
        if len(shape) == 3 and shape[0] == 8 and shape[-1] in (24, 120) and (
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


@pytest.mark.parametrize("tied", [True, False])
def test_chunked_loss_holds_one_chunk_of_logits_at_a_time(tied):
  # Vocabulary 120 in slices of 24: widths no other value of the tiny model has.
  config = dataclasses.replace(TINY_LLAMA, vocab_size=120, tie_embeddings=tied)
  model = model_for(config)
  batch = random_batch(config)
  params = jax.eval_shape(model.module.init, jax.random.key(0), batch)["params"]
  b, t = batch["decoder_target_tokens"].shape

  def largest(**chunking):
    model = make_model(config, **chunking)
    grads = jax.grad(lambda p: model.loss_sums(p, batch, **LOSS_OPTIONS)["loss_sum"])
    return _largest_vocab_value(grads, nn.unbox(params))

  assert largest() == (b, t, 120)
  assert largest(loss_chunk_size=CHUNK) == (b, CHUNK, 120)
  assert largest(loss_vocab_chunk_size=24) == (b, t, 24)
  assert largest(loss_chunk_size=CHUNK, loss_vocab_chunk_size=24) == (b, CHUNK, 24)


def test_chunk_size_that_does_not_divide_the_length_names_both():
  model = make_model(TINY_LLAMA, loss_chunk_size=6)
  batch = random_batch(TINY_LLAMA)  # length 20
  with pytest.raises(ValueError,
                     match=r"chunk size 6 does not divide the loss.s sequence length \(20\)"
                           r".*e\.g\. 5"):
    model.loss_sums(params_for("llama_tied"), batch)


def test_vocabulary_chunk_that_does_not_divide_the_vocabulary_names_both():
  with pytest.raises(ValueError, match=r"chunk size 48 does not divide the vocabulary \(128\)"):
    make_model(TINY_T5, loss_vocab_chunk_size=48)


@pytest.mark.parametrize("option", ["loss_chunk_size", "loss_vocab_chunk_size"])
@pytest.mark.parametrize("size", [0, -4, 2.5, "8"])
def test_loss_chunk_sizes_must_be_positive_ints(option, size):
  with pytest.raises(ValueError, match=option):
    make_model(TINY_T5, **{option: size})


def test_loss_chunk_sizes_are_chosen_in_gin():
  gin.clear_config()
  try:
    gin.parse_config_files_and_bindings(
        ["gin/models/llama_tiny.gin"], ["models.DecoderOnlyModel.loss_chunk_size = 64",
                                        "models.DecoderOnlyModel.loss_vocab_chunk_size = 512"])
    model = DecoderOnlyModel()
    assert (model.loss_chunk_size, model.loss_vocab_chunk_size) == (64, 512)
    gin.clear_config()
    gin.parse_config_files_and_bindings(["gin/models/llama_tiny.gin"], [])
    model = DecoderOnlyModel()
    assert (model.loss_chunk_size, model.loss_vocab_chunk_size) == (None, None)
    gin.clear_config()
    gin.parse_config_files_and_bindings(
        ["gin/models/llama_tiny.gin"], ["models.DecoderOnlyModel.loss_vocab_chunk_size = 1000"])
    with pytest.raises(ValueError, match=r"chunk size 1000 does not divide the vocabulary"):
      DecoderOnlyModel()
  finally:
    gin.clear_config()


@pytest.mark.slow  # one compile over 8 devices
def test_chunked_loss_over_a_sharded_mesh_matches_one_device():
  # Data, fsdp and model axes all in use: the vocabulary slices and position chunks of
  # sharded logits and weights must still add up to the plain loss and gradients.
  config = CONFIGS["llama_untied"]
  batch = random_batch(config)
  mesh = partitioning.make_mesh(2, 2, 2, devices=jax.devices()[:8])
  rules = partitioning.logical_axis_rules()
  model = make_model(config, **CHUNKINGS["both"])
  _, shardings = train_state.state_shardings(model.module, optax.identity(), batch, mesh, rules)
  state = train_state.create_train_state(model.module, optax.identity(), batch, shardings,
                                         mesh, rules, seed=0)
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    (_, got_sums), got_grads = loss_and_grads(model, state.params, batch)
  params = jax.device_get(state.params)
  (_, want_sums), want_grads = loss_and_grads(model_for(config), params, batch)
  assert_trees_close(got_sums, want_sums)
  assert_trees_close(jax.device_get(got_grads), want_grads)
