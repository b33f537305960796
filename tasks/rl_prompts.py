"""Prompts of the embedded suite for the RLHF stages, with what the labeler needs to score.

Only prompts whose reference is the task's answer are used (templates that turn a task
around, e.g. "write an addition whose result is 7", have many right answers that an exact
labeler cannot check). Prompts are rendered zero-shot with options, as SFT saw them.
"""
import dataclasses
import random
from typing import Sequence

from tasks import formats as formats_lib
from tasks import render
from tasks import suite


@dataclasses.dataclass(frozen=True)
class RLPrompt:
  task: str
  cluster: str
  index: int
  inputs: str
  answer: str
  choices: tuple[str, ...]
  metric: str


def rl_prompts(clusters: Sequence[str], split: str, count: int, seed: int) -> list[RLPrompt]:
  """`count` prompts from the clusters' task types, interleaved task by task.

  The order is fixed by `seed`; every task type contributes about equally.
  """
  pools = []
  for cluster in clusters:
    for task in suite.by_cluster(cluster):
      indices = list(range(len(task.examples(split))))
      random.Random(f"rl/{task.name}/{split}/{seed}").shuffle(indices)
      pools.append((task, iter(indices)))
  out: list[RLPrompt] = []
  while len(out) < count and pools:
    for task, indices in list(pools):
      if len(out) == count:
        break
      prompt = _next_checkable(task, indices, split, seed)
      if prompt is None:
        pools.remove((task, indices))
      else:
        out.append(prompt)
  return out


def _next_checkable(task, indices, split: str, seed: int) -> RLPrompt | None:
  for index in indices:
    example = task.examples(split)[index]
    rendered = render.render_example(task, split, index, seed, formats_lib.ZERO_SHOT)
    if rendered["targets"] == str(example["answer"]):
      return RLPrompt(task.name, task.cluster, index, rendered["inputs"], rendered["targets"],
                      tuple(rendered["choices"]), task.metric)
  return None
