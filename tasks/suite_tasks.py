"""Registers the embedded suite in seqio: one task per (task type, format).

Names: `suite_<type>` (zero-shot with options), `suite_<type>_noopt`, `suite_<type>_fs`,
`suite_<type>_fs_noopt`, `suite_<type>_noinstr`, `suite_<type>_1tmpl` (one template), for
multi-step types `suite_<type>_cot` and `suite_<type>_fs_cot` (chain-of-thought zero- and
few-shot), and for classification types `suite_<type>_rank` (one example per answer choice,
scored).
Registration builds no data; examples are generated when a dataset is first asked for.
"""
import functools

import seqio
import tensorflow as tf

from tasks import catalog
from tasks import features
from tasks import formats as formats_lib
from tasks import metrics
from tasks import rank_classification
from tasks import render
from tasks import stats
from tasks import suite
from tasks import vocab

PREFIX = "suite_"
SHUFFLE_BUFFER = 16  # the source already shuffles whole splits (see _dataset_fn)


def task_name(task: suite.TaskType, fmt: formats_lib.Format) -> str:
  return f"{PREFIX}{task.name}{fmt.suffix}"


def formats_of(task: suite.TaskType) -> tuple[formats_lib.Format, ...]:
  out = [formats_lib.ZERO_SHOT, formats_lib.FEW_SHOT, formats_lib.NO_INSTRUCTIONS,
         formats_lib.ONE_TEMPLATE]
  if task.is_classification:
    out += [formats_lib.ZERO_SHOT_NO_OPTIONS, formats_lib.FEW_SHOT_NO_OPTIONS,
            formats_lib.RANK_CLASSIFICATION]
  if task.has_cot:
    out += [formats_lib.COT, formats_lib.FEW_SHOT_COT]
  return tuple(out)


def _dataset_fn(split: str, shuffle_files: bool, seed: int | None = None, *,
                task: suite.TaskType, fmt: formats_lib.Format, name: str) -> tf.data.Dataset:
  """The whole split, rendered in Python (fast) and held in memory.

  With `shuffle_files` the split is fully reshuffled every epoch here, so the Task needs
  only a token shuffle buffer: filling a 1,000-example buffer for each of 29 tasks cost
  ~20 s before the first batch.
  """
  render_seed = 0 if seed is None else int(seed)
  counter = vocab.count_tokens if fmt.few_shot else None
  rendered = (render.render_example(task, split, i, render_seed, fmt, counter)
              for i in range(len(task.examples(split))))
  examples = list(stats.checked_text_examples(name, rendered))
  dataset = features.dataset_from_examples(examples)
  if shuffle_files:
    dataset = dataset.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
  return dataset


class _SuiteSource(seqio.FunctionDataSource):
  """Reports the real split sizes (a small word list can yield fewer than asked)."""

  def __init__(self, task: suite.TaskType, dataset_fn):
    super().__init__(dataset_fn, splits=suite.SPLITS)
    self._task = task

  def num_input_examples(self, split: str) -> int:
    return len(self._task.examples(split))


def source_for(task: suite.TaskType, fmt: formats_lib.Format, name: str) -> seqio.DataSource:
  return _SuiteSource(task, functools.partial(_dataset_fn, task=task, fmt=fmt, name=name))


def register_task(task: suite.TaskType, fmt: formats_lib.Format, name: str | None = None,
                  loss_masked: bool = False) -> str:
  """Registers the task type in one format, under `name` (default: `task_name`);
  loss_masked: its targets mark spans to leave out of the loss (tasks.loss_mask)."""
  name = name or task_name(task, fmt)
  source = source_for(task, fmt, name)
  if fmt == formats_lib.RANK_CLASSIFICATION:
    preprocessors = [rank_classification.expand_choices, *features.preprocessors(name)]
    postprocess_fn, metric_fns = rank_classification.postprocess_target, [
        rank_classification.rank_accuracy]
  else:
    preprocessors = features.preprocessors(name, loss_masked)
    postprocess_fn = metrics.postprocess_for(cot=fmt.cot)
    metric_fns = metrics.metric_fns_for(task.metric)
  seqio.TaskRegistry.add(
      name, source=source, output_features=features.output_features(),
      preprocessors=preprocessors, postprocess_fn=postprocess_fn, metric_fns=metric_fns,
      shuffle_buffer_size=SHUFFLE_BUFFER)
  pool = render.template_pool(task, fmt)
  catalog.add(catalog.Entry(
      name, task.cluster, templates=len(pool) if fmt.instructions else 0,
      inverted_templates=sum(t.inverted for t in pool) if fmt.instructions else 0,
      split_sizes=lambda: {s: len(task.examples(s)) for s in suite.SPLITS}))
  return name


def register_all() -> dict[str, list[str]]:
  """Registers every (type, format); returns task names by format suffix."""
  names: dict[str, list[str]] = {}
  for task in suite.TASK_TYPES:
    for fmt in formats_of(task):
      names.setdefault(fmt.suffix, []).append(register_task(task, fmt))
  return names
