"""The per-token loss mask through both model kinds' feature converters: without it the
output is seqio's; with it the masked tokens keep their ids, lose their loss weight, and
contribute zero loss and zero gradient (against a cross-entropy computed by hand)."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import seqio
import tensorflow as tf

from models import loss_masked_converter, losses
from tests.model_configs import TINY_LLAMA, TINY_T5, model_for

LENGTHS = {"inputs": 10, "targets": 12}
# (inputs, targets, mask): the 0s in the mask are a span in the middle of the targets.
EXAMPLES = [
    ([5, 6, 7, 1], [11, 12, 13, 14, 15, 1], [1, 1, 0, 0, 1, 1]),
    ([8, 9, 1], [21, 22, 23, 1], [1, 0, 1, 1]),
    ([3, 4, 5, 6, 1], [31, 32, 1], [1, 1, 1]),
]
KINDS = {
    "t5": (TINY_T5, None),
    "llama_causal": (TINY_LLAMA, False),
    "llama_prefix_lm": (TINY_LLAMA, True),
}


def dataset(with_mask: bool) -> tf.data.Dataset:
  def rows():
    for inputs, targets, mask in EXAMPLES:
      row = {"inputs": np.int32(inputs), "targets": np.int32(targets)}
      if with_mask:
        row[loss_masked_converter.MASK_FEATURE] = np.int32(mask)
      yield row
  spec = {k: tf.TensorSpec([None], tf.int32) for k in ("inputs", "targets")}
  if with_mask:
    spec[loss_masked_converter.MASK_FEATURE] = tf.TensorSpec([None], tf.int32)
  return tf.data.Dataset.from_generator(rows, output_signature=spec)


def batch(converter, with_mask: bool) -> dict:
  converted = converter(dataset(with_mask), LENGTHS)
  rows = list(converted.as_numpy_iterator())
  return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def kind(name: str, pack: bool):
  config, prefix_lm = KINDS[name]
  return model_for(config, pack=pack, prefix_lm=prefix_lm)


@pytest.mark.parametrize("pack", [False, True])
@pytest.mark.parametrize("name", list(KINDS))
def test_without_a_mask_the_output_is_seqios(name, pack):
  config, prefix_lm = KINDS[name]
  seqios = (seqio.EncDecFeatureConverter(pack=pack) if config.is_encoder_decoder
            else seqio.DecoderFeatureConverter(pack=pack, loss_on_targets_only=True))
  ours = batch(kind(name, pack).train_feature_converter(), with_mask=False)
  want = batch(seqios, with_mask=False)
  if prefix_lm is False:  # a causal LM: seqio's batch without the prefix attention
    want.pop("decoder_causal_attention")
  assert sorted(ours) == sorted(want)
  for key in want:
    np.testing.assert_array_equal(ours[key], want[key], err_msg=key)


def mask_positions(converted_unmasked: dict) -> np.ndarray:
  """Where each example's masked target tokens land in the unmasked batch: the target ids
  of EXAMPLES are unique, so a masked id marks its position."""
  masked_ids = {t for _, targets, mask in EXAMPLES for t, m in zip(targets, mask) if not m}
  return np.isin(converted_unmasked["decoder_target_tokens"], list(masked_ids)) & (
      converted_unmasked["decoder_loss_weights"] > 0)


@pytest.mark.parametrize("pack", [False, True])
@pytest.mark.parametrize("name", list(KINDS))
def test_the_mask_zeroes_only_the_masked_tokens_weights(name, pack):
  model = kind(name, pack)
  plain = batch(model.train_feature_converter(), with_mask=False)
  masked = batch(model.train_feature_converter(), with_mask=True)
  where = mask_positions(plain)
  assert where.sum() == 3
  assert sorted(masked) == sorted(plain)
  for key in plain:
    if key != "decoder_loss_weights":
      np.testing.assert_array_equal(masked[key], plain[key], err_msg=key)
  np.testing.assert_array_equal(masked["decoder_loss_weights"],
                                np.where(where, 0, plain["decoder_loss_weights"]))


@pytest.mark.parametrize("name", list(KINDS))
def test_evaluation_converters_ignore_the_mask(name):
  model = kind(name, pack=False)
  np.testing.assert_array_equal(
      batch(model.eval_feature_converter(), with_mask=True)["decoder_loss_weights"],
      batch(model.eval_feature_converter(), with_mask=False)["decoder_loss_weights"])


@functools.cache
def params_for(name: str):
  model = kind(name, pack=True)
  return nn.unbox(jax.jit(model.module.init)(jax.random.key(0), model.init_batch())["params"])


def hand_loss(model, params, batch_, keep):
  """Summed -log p(target) over the positions `keep`, from the network's logits."""
  inputs = {k: v for k, v in batch_.items() if k != "decoder_loss_weights"}
  logits = model.module.apply({"params": params}, inputs).astype(jnp.float32)
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  target = jnp.take_along_axis(log_probs, batch_["decoder_target_tokens"][..., None], -1)[..., 0]
  return -jnp.sum(jnp.where(keep, target, 0.0))


@pytest.mark.parametrize("name", list(KINDS))
def test_masked_tokens_give_zero_loss_and_gradient(name):
  model, params = kind(name, pack=True), params_for(name)
  plain = batch(model.train_feature_converter(), with_mask=False)
  masked = batch(model.train_feature_converter(), with_mask=True)
  keep = (plain["decoder_loss_weights"] > 0) & ~mask_positions(plain)

  def kind_loss(p, b):
    return model.loss_sums(p, b)["loss_sum"]
  # Compiled: op by op, the backward pass of even a tiny T5 takes half a minute.
  kind_value_and_grad = jax.jit(jax.value_and_grad(kind_loss))
  got, got_grads = kind_value_and_grad(params, masked)
  want, want_grads = jax.jit(jax.value_and_grad(
      lambda p: hand_loss(model, p, masked, keep)))(params)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7),
               got_grads, want_grads)
  unmasked = float(kind_value_and_grad(params, plain)[0])
  assert unmasked > float(got) + 1e-3  # the masked tokens did carry loss without the mask
  # The gradient of the loss with respect to the masked positions' logits is zero.
  inputs = {k: v for k, v in masked.items() if k != "decoder_loss_weights"}
  logits = jax.jit(model.module.apply)({"params": params}, inputs)
  logit_grads = jax.grad(lambda lg: losses.cross_entropy_sums(
      lg, masked["decoder_target_tokens"], masked["decoder_loss_weights"])["loss_sum"])(logits)
  assert float(jnp.max(jnp.abs(logit_grads[mask_positions(plain)]))) == 0.0
  assert float(jnp.max(jnp.abs(logit_grads[keep]))) > 0.0
