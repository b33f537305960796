"""The model side of evaluation: seqio `predict_fn`s (greedy, sampled, self-consistency)
and rank classification, over feature-converted (unpacked) datasets.

Batches are padded up to a fixed batch size so one compiled decode loop serves the whole
evaluation; padding rows are dropped from the results.
"""
import collections
import dataclasses
from typing import Callable, Iterator

import jax
import numpy as np
import seqio
import tensorflow as tf

from models import sampling as sampling_lib
from models.model_kinds import ModelKind
from tasks import metrics as task_metrics
from trainer import compiled_inference, partitioning


def _padded_batches(dataset: tf.data.Dataset, batch_size: int) -> Iterator[tuple[np.ndarray, dict]]:
  """(indices [n], batch padded to batch_size rows) from seqio's enumerated dataset."""
  for indices, batch in dataset.batch(batch_size).as_numpy_iterator():
    n = len(indices)
    if n < batch_size:
      batch = {k: np.concatenate([v, np.zeros((batch_size - n,) + v.shape[1:], v.dtype)])
               for k, v in batch.items()}
    yield indices, batch


def majority_vote(answers: list[str]) -> int:
  """Index of the first sample whose answer is the most frequent (Wang et al. 2022).

  Answers are compared after case/space normalization; a tie goes to the answer seen
  first; an empty answer (the extraction found nothing after the answer phrase) only wins
  when every sample failed, so failures never outvote a real answer.
  """
  keys = [" ".join(a.lower().split()) for a in answers]
  counts = collections.Counter(k for k in keys if k)
  if not counts:
    return 0
  best = max(counts.values())
  return next(i for i, k in enumerate(keys) if counts.get(k) == best)


@dataclasses.dataclass
class InferenceModel:
  """A model kind with its (sharded) parameters, ready for seqio's Evaluator."""
  model: ModelKind
  params: object
  param_shardings: object
  mesh: object
  rules: tuple
  batch_size: int
  inputs_length: int
  max_new_tokens: int
  eos_id: int = 1
  beam_size: int = 1  # > 1: greedy predictions come from beam search
  compute_dtype: str | None = None  # decoding only (models/decoding.decoding_model)

  def __post_init__(self):
    ways = self.row_ways
    if self.batch_size % ways:
      raise ValueError(f"evaluation batch_size={self.batch_size} must be a multiple of the "
                       f"{ways} ways the mesh splits batch rows")
    self._generators = {}
    self._score = compiled_inference.compile_score(self.model, self.mesh, self.rules,
                                        self.param_shardings)

  def _generator(self, sampling: sampling_lib.SamplingConfig) -> Callable:
    if sampling in self._generators:
      return self._generators[sampling]
    options = dict(max_new_tokens=self.max_new_tokens, eos_id=self.eos_id,
                   compute_dtype=self.compute_dtype)
    shared = (self.model, self.mesh, self.rules, self.param_shardings)
    if sampling.greedy and self.beam_size > 1:
      search = compiled_inference.compile_beam_search(*shared, beam_size=self.beam_size,
                                                      **options)
      generator = lambda params, batch, rng: search(params, batch)
    else:
      generator = compiled_inference.compile_generate(*shared, sampling=sampling, **options)
    self._generators[sampling] = generator
    return generator

  def generate(self, dataset: tf.data.Dataset, sampling: sampling_lib.SamplingConfig,
               seed: int = 0) -> list[tuple[int, list[int]]]:
    """[(index, generated ids [max_new_tokens])] for seqio's enumerated dataset (PAD after
    EOS; seqio decodes through the first EOS)."""
    run = self._generator(sampling)
    out = []
    for batch_number, (indices, batch) in enumerate(_padded_batches(dataset, self.batch_size)):
      rng = jax.random.fold_in(jax.random.key(seed), batch_number)
      result = jax.device_get(run(self.params,
                                  self.model.decode_inputs(batch, self.inputs_length), rng))
      for row, index in enumerate(indices):
        out.append((int(index), result.tokens[row]))
    return out

  def generate_ids(self, prompts: list[list[int]], seed: int = 0) -> list[list[int]]:
    """Greedy generations (through EOS) for prompt id lists, each already at most
    `inputs_length` ids; batches are padded to one shape so one compiled loop serves all."""
    run = self._generator(sampling_lib.SamplingConfig())
    out = []
    for start in range(0, len(prompts), self.batch_size):
      chunk = prompts[start:start + self.batch_size]
      padded = np.zeros((self.batch_size, self.inputs_length), np.int32)
      for row, ids in enumerate(chunk):
        if len(ids) > self.inputs_length:
          raise ValueError(f"a prompt of {len(ids)} ids is longer than inputs_length="
                           f"{self.inputs_length}")
        padded[row, :len(ids)] = ids
      rng = jax.random.fold_in(jax.random.key(seed), start)
      result = jax.device_get(run(self.params, self.model.prompt_inputs(padded), rng))
      out += [result.tokens[row, :result.lengths[row]].tolist() for row in range(len(chunk))]
    return out

  @property
  def row_ways(self) -> int:
    """How many ways the mesh splits batch rows (a batch's row count must divide by it)."""
    row_axes = partitioning.batch_sharding(self.mesh, self.rules, 1).spec[0] or ()
    row_axes = (row_axes,) if isinstance(row_axes, str) else row_axes
    return int(np.prod([self.mesh.shape[a] for a in row_axes]))

  def predict_fn(self, sampling=sampling_lib.SamplingConfig()):
    return lambda dataset, model_feature_shapes=None: self.generate(dataset, sampling)

  def self_consistency_predict_fn(self, vocabulary: seqio.Vocabulary, extract_answer,
                                  num_samples: int, temperature: float):
    """Samples `num_samples` generations per example and keeps the first one whose
    extracted answer wins `majority_vote`."""
    sampling = sampling_lib.SamplingConfig(temperature=temperature)

    def predict(dataset, model_feature_shapes=None):
      samples = [dict(self.generate(dataset, sampling, seed=s)) for s in range(num_samples)]
      out = []
      for index in samples[0]:
        candidates = [s[index] for s in samples]
        answers = [extract_answer(vocabulary.decode(c)) for c in candidates]
        out.append((index, candidates[majority_vote(answers)]))
      return out

    return predict

  def score(self, model_dataset: tf.data.Dataset) -> np.ndarray:
    """Summed target log-probs, one per row of an unenumerated model-feature dataset."""
    sums = []
    enumerated = model_dataset.enumerate()
    for indices, batch in _padded_batches(enumerated, self.batch_size):
      scores = jax.device_get(self._score(self.params, batch))
      sums.append(scores.sum_log_prob[:len(indices)])
    return np.concatenate(sums) if sums else np.zeros((0,), np.float32)


def rank_classification(model: InferenceModel, task_dataset: tf.data.Dataset,
                        vocabulary: seqio.Vocabulary, feature_lengths: dict) -> dict | None:
  """T0's rank classification: each answer choice scored by the sum of its token
  log-probs given the inputs; accuracy of the argmax. None when no example has choices.

  `task_dataset` holds the tokenized task examples (`inputs`, `targets_pretokenized`,
  `choices`), as seqio's Evaluator caches them.
  """
  rows, right_choice, owners = [], [], []
  for example in task_dataset.as_numpy_iterator():
    choices = [c.decode("utf-8") for c in example.get("choices", [])]
    if not choices:
      continue
    target = example["targets_pretokenized"].decode("utf-8").strip()
    right_choice.append(choices.index(target) if target in choices else -1)
    for choice in choices:
      ids = vocabulary.encode(choice)[:feature_lengths["targets"] - 1] + [vocabulary.eos_id]
      rows.append({"inputs": example["inputs"], "targets": np.asarray(ids, np.int32)})
      owners.append(len(right_choice) - 1)
  if not rows:
    return None
  pairs = tf.data.Dataset.from_generator(
      lambda: iter(rows), output_signature={"inputs": tf.TensorSpec([None], tf.int32),
                                            "targets": tf.TensorSpec([None], tf.int32)})
  sums = model.score(model.model.eval_feature_converter()(pairs, feature_lengths))
  per_example = [[] for _ in right_choice]
  for owner, value in zip(owners, sums):
    per_example[owner].append(float(value))
  return task_metrics.rank_classification_accuracy(right_choice, per_example)
