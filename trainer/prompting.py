"""Prompting strategies for evaluation, chosen in gin, expressed as which task is evaluated.

- zero_shot: the task as registered (instructions, options, no exemplars);
- few_shot: its `_fs` variant (k exemplars, rendered by tasks/ while they fit);
- few_shot_cot: its `_fs_cot` variant (k worked train exemplars, each input, rationale and
  `tasks.templates.ANSWER_PHRASE` answer, then the query; the answer is extracted);
- zero_shot_cot: the zero-shot prompt with a step-by-step cue appended; the answer is
  extracted from the generation;
- self_consistency: zero_shot_cot prompts, `num_samples` sampled generations per example,
  the majority extracted answer wins (see trainer/inference.py);
- rag, pal, react (the tools, trainer/tool_strategies.py), over the raw examples of the
  tool-suite task types that have that tool's view: rag retrieves `top_k` passages (BM25
  over `collection_path`) into the prompt; pal runs the generated program in the sandbox;
  react runs a Thought / Action / Observation loop with search, lookup and calculator.

With `chat` (trainer.chat_prompts.ChatPrompts: a chat model's template, vocabulary and
shots), few_shot, few_shot_cot and the tool strategies evaluate the raw examples of the
tool-suite task types too, each prompt the model's own chat turns with train exemplars as
earlier turns (trainer/tool_strategies.py).
"""
import dataclasses

import gin
import seqio
import tensorflow as tf

from tasks import catalog
from tasks import metrics as task_metrics
from tasks import tool_suite_tasks
from trainer.chat_prompts import ChatPrompts

TOOL_STRATEGIES = ("rag", "pal", "react")
STRATEGIES = ("zero_shot", "few_shot", "few_shot_cot", "zero_shot_cot",
              "self_consistency") + TOOL_STRATEGIES
CHAT_STRATEGIES = ("few_shot", "few_shot_cot") + TOOL_STRATEGIES
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
  top_k: int = 4                # rag: passages in the prompt (react: react_search_hits)
  collection_path: str | None = None  # rag / react: JSONL documents (None: the tool suite's)
  react_max_steps: int = 6      # react: Thought / Action / Observation steps per question
  react_step_tokens: int = 64   # react: tokens the model may write per step
  react_search_hits: int | None = None  # react: hits a search shows (None: top_k)
  chat: ChatPrompts | None = None  # a chat model's few-shot turns (CHAT_STRATEGIES only)

  def __post_init__(self):
    if self.name not in STRATEGIES:
      raise ValueError(f"PromptStrategy.name={self.name!r}; known: {list(STRATEGIES)}")
    if self.num_samples < 1:
      raise ValueError(f"PromptStrategy.num_samples={self.num_samples} must be >= 1")
    if self.top_k < 1:
      raise ValueError(f"PromptStrategy.top_k={self.top_k} must be >= 1")
    if self.chat is not None and self.name not in CHAT_STRATEGIES:
      raise ValueError(f"PromptStrategy.name={self.name!r} has no chat form; with "
                       f"PromptStrategy.chat: {list(CHAT_STRATEGIES)}")

  @property
  def uses_tools(self) -> bool:
    return self.name in TOOL_STRATEGIES

  @property
  def reads_examples(self) -> bool:
    """Evaluated over the raw tool-suite examples (trainer.tool_strategies), not seqio's."""
    return self.uses_tools or self.chat is not None

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
  such format (e.g. few_shot_cot for a single-step task, pal for a fact lookup). A tool
  strategy evaluates the direct-answer task of the type, whichever of its formats is
  named (so a mixture holding several counts each type once)."""
  if strategy.name == "zero_shot":
    return task_name
  if strategy.uses_tools:
    return tool_suite_tasks.tool_task(task_name, strategy.name)
  if strategy.chat is not None:
    return tool_suite_tasks.direct_task(task_name, cot=strategy.name == "few_shot_cot")
  if strategy.name in ("zero_shot_cot", "self_consistency"):
    return zero_shot_cot_task(task_name, strategy.cue)
  suffix = "_fs" if strategy.name == "few_shot" else "_fs_cot"
  variant = base_task_name(task_name) + suffix
  return variant if variant in seqio.TaskRegistry.names() else None
