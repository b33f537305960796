"""Prompting strategies for evaluation, chosen in gin, expressed as which task is evaluated.

- zero_shot: the task as registered (instructions, options, no exemplars);
- few_shot: its `_fs` variant (k exemplars, rendered by tasks/ while they fit);
- few_shot_cot: its `_fs_cot` variant (k worked train exemplars, each input, rationale and
  `tasks.templates.ANSWER_PHRASE` answer, then the query; the answer is extracted);
- zero_shot_cot: the zero-shot prompt with a step-by-step cue appended; the answer is
  extracted from the generation;
- self_consistency: zero_shot_cot prompts, `num_samples` sampled generations per example,
  the majority extracted answer wins (see trainer/inference.py).
"""
import dataclasses

import gin
import seqio
import tensorflow as tf

from tasks import catalog
from tasks import metrics as task_metrics

STRATEGIES = ("zero_shot", "few_shot", "few_shot_cot", "zero_shot_cot", "self_consistency")
STEP_BY_STEP_CUE = "Let's think step by step."
# Suffixes the tasks package gives a task type's formats; stripped to find the base name.
_FORMAT_SUFFIXES = ("_fs_noopt", "_fs_cot", "_noopt", "_fs", "_cot", "_noinstr")
_ZERO_SHOT_COT_SUFFIX = "_zscot"


@gin.configurable
@dataclasses.dataclass(frozen=True)
class PromptStrategy:
  name: str = "zero_shot"
  num_samples: int = 5          # self_consistency: generations per example
  temperature: float = 0.7      # self_consistency: sampling temperature
  cue: str = STEP_BY_STEP_CUE   # zero_shot_cot / self_consistency

  def __post_init__(self):
    if self.name not in STRATEGIES:
      raise ValueError(f"PromptStrategy.name={self.name!r}; known: {list(STRATEGIES)}")
    if self.num_samples < 1:
      raise ValueError(f"PromptStrategy.num_samples={self.num_samples} must be >= 1")

  @property
  def extracts_answer(self) -> bool:
    return self.name in ("few_shot_cot", "zero_shot_cot", "self_consistency")


def base_task_name(task_name: str) -> str:
  for suffix in _FORMAT_SUFFIXES + (_ZERO_SHOT_COT_SUFFIX,):
    if task_name.endswith(suffix):
      return task_name[:-len(suffix)]
  return task_name


def cluster_of(task_name: str) -> str:
  """The task's cluster as the tasks catalog records it ('other' for unlisted tasks)."""
  for name in (task_name, base_task_name(task_name)):
    entry = catalog.entry(name)
    if entry is not None:
      return entry.cluster
  return "other"


def _append_cue(dataset: tf.data.Dataset, cue: str) -> tf.data.Dataset:
  return dataset.map(lambda ex: {**ex, "inputs": tf.strings.join([ex["inputs"], cue],
                                                                 separator="\n")},
                     num_parallel_calls=tf.data.AUTOTUNE)


def zero_shot_cot_task(task_name: str, cue: str = STEP_BY_STEP_CUE) -> str:
  """Registers (once) the task with `cue` appended to its inputs and answer extraction."""
  name = f"{task_name}{_ZERO_SHOT_COT_SUFFIX}"
  if name in seqio.TaskRegistry.names():
    return name
  task = seqio.get_mixture_or_task(task_name)
  seqio.TaskRegistry.add(
      name, source=task.source, output_features=task.output_features,
      preprocessors=[lambda ds: _append_cue(ds, cue)] + list(task.preprocessors),
      postprocess_fn=task_metrics.postprocess_for(cot=True), metric_fns=task.metric_fns)
  return name


def task_for(task_name: str, strategy: PromptStrategy) -> str | None:
  """The task that evaluates `task_name` under `strategy`; None when the task type has no
  such format (e.g. few_shot_cot for a single-step task)."""
  if strategy.name == "zero_shot":
    return task_name
  if strategy.name in ("zero_shot_cot", "self_consistency"):
    return zero_shot_cot_task(task_name, strategy.cue)
  suffix = "_fs" if strategy.name == "few_shot" else "_fs_cot"
  variant = base_task_name(task_name) + suffix
  return variant if variant in seqio.TaskRegistry.names() else None
