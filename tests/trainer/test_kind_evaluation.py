"""Evaluation decodes and scores a decoder-only model under the attention it trained with.

For a causal and a prefix-LM llama_tiny, the rank-classification scores and the greedy
tokens of the evaluation path (eval feature converter, cached decoding) equal those of
full forward passes over batches that the *training* feature converter builds.
"""
import jax
import numpy as np
import pytest
import tensorflow as tf

from tests.model_configs import TINY_LLAMA, model_for
from tests.trainer import one_device
from trainer import inference

LENGTHS = {"inputs": 8, "targets": 6}
MAX_NEW = 4
NEVER = 10_000  # an EOS id outside the vocabulary: every row decodes MAX_NEW tokens
EXAMPLES = [([5, 9, 17, 1], [23, 4, 1]), ([40, 41, 42, 43, 44, 1], [7, 1]),
            ([11, 1], [30, 31, 32, 1])]


def as_dataset(rows):
  return tf.data.Dataset.from_generator(
      lambda: ({"inputs": np.int32(i), "targets": np.int32(t)} for i, t in rows),
      output_signature={"inputs": tf.TensorSpec([None], tf.int32),
                        "targets": tf.TensorSpec([None], tf.int32)})


def training_batch(model, inputs, targets):
  """One example as the training feature converter lays it out."""
  converted = model.train_feature_converter()(as_dataset([(inputs, targets)]), LENGTHS)
  return next(converted.batch(1).as_numpy_iterator())


def log_probs(model, params, batch):
  logits = model.module.apply({"params": params}, batch)
  return np.asarray(jax.nn.log_softmax(logits.astype(np.float32)))[0]


@pytest.fixture(scope="module", params=[False, True], ids=["causal", "prefix_lm"])
def setup(request):
  model = model_for(TINY_LLAMA, prefix_lm=request.param)
  params, param_shardings, mesh, rules = one_device.initialised(model, seed=4)
  evaluated = inference.InferenceModel(model, params, param_shardings, mesh, rules,
                                       batch_size=4, inputs_length=LENGTHS["inputs"],
                                       max_new_tokens=MAX_NEW, eos_id=NEVER)
  return model, jax.device_get(params), evaluated


def test_training_converter_marks_the_prefix_only_for_a_prefix_lm(setup):
  model, _, _ = setup
  batch = training_batch(model, *EXAMPLES[0])
  assert ("decoder_causal_attention" in batch) == model.prefix_lm


def test_rank_scores_equal_full_forward_with_the_training_mask(setup):
  model, params, evaluated = setup
  scores = evaluated.score(model.eval_feature_converter()(as_dataset(EXAMPLES), LENGTHS))
  for (inputs, targets), score in zip(EXAMPLES, scores):
    batch = training_batch(model, inputs, targets)
    lp = log_probs(model, params, batch)
    picked = lp[np.arange(lp.shape[0]), batch["decoder_target_tokens"][0]]
    want = float(np.sum(picked * batch["decoder_loss_weights"][0]))
    np.testing.assert_allclose(score, want, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_greedy_tokens_equal_full_forward_with_the_training_mask(setup):
  model, params, evaluated = setup
  converted = model.eval_feature_converter()(as_dataset(EXAMPLES), LENGTHS).enumerate()
  decoded = dict(evaluated.generate(converted, inference.sampling_lib.SamplingConfig()))
  for index, (inputs, _) in enumerate(EXAMPLES):
    generated = []
    for _ in range(MAX_NEW):
      # A placeholder target keeps the next position in the sequence (and in its mask).
      batch = training_batch(model, inputs, generated + [2])
      next_position = len(inputs) + len(generated)
      generated.append(int(np.argmax(log_probs(model, params, batch)[next_position])))
    assert list(decoded[index]) == generated, (index, model.prefix_lm)
