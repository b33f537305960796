"""GRPO's reward: a weighted sum of named reward functions, chosen by gin.

Built in: "verifiable" (1 when the normalised response equals the task's target, else 0;
for exact-match prompts: arithmetic, counting, classification ...), "labeler" (the
programmatic labeler's total, `tasks/comparisons.py`) and "reward_model" (the trained RM's
score, computed on device by the scorer). More come from `functions`: name -> fn(prompt:
RLPrompt, response: str, finished: bool) -> float, e.g. in gin
  train_grpo.reward_functions = {'short': @short_answer_reward}
  train_grpo.reward_weights = {'verifiable': 1.0, 'short': 0.1}
"""
from typing import Callable, Mapping, Sequence

import numpy as np

from tasks import comparisons as comparisons_lib
from tasks import metrics as metrics_lib
from tasks.rl_prompts import RLPrompt

REWARD_MODEL = "reward_model"


def verifiable_reward(prompt: RLPrompt, response: str, finished: bool) -> float:
  del finished  # a cut-off response that spells the answer still spells it
  return metrics_lib.exact_match([prompt.answer], [response])["exact_match"] / 100.0


def labeler_reward(prompt: RLPrompt, response: str, finished: bool) -> float:
  return comparisons_lib.label(prompt.inputs, response, prompt.answer, choices=prompt.choices,
                               metric=prompt.metric, finished=finished)["total"]


BUILT_IN = {"verifiable": verifiable_reward, "labeler": labeler_reward}


def describe(prompt: RLPrompt) -> str:
  text = prompt.inputs if len(prompt.inputs) <= 80 else prompt.inputs[:77] + "..."
  return f"prompt {prompt.task}[{prompt.index}] {text!r}"


def resolve(weights: Mapping[str, float], functions: Mapping[str, Callable] | None,
            has_reward_model: bool) -> dict[str, Callable]:
  """The host reward functions by name (the reward model excluded: it runs on device);
  refuses unknown names, non-finite weights, an empty sum and an RM without REWARD_DIR."""
  available = dict(BUILT_IN, **(functions or {}))
  if not weights:
    raise ValueError("train_grpo.reward_weights is empty: name at least one reward, e.g. "
                     "{'verifiable': 1.0}")
  for name, weight in weights.items():
    if name != REWARD_MODEL and name not in available:
      raise ValueError(f"train_grpo.reward_weights names {name!r}, which is no reward "
                       f"function; known: {', '.join(sorted([*available, REWARD_MODEL]))}")
    if not np.isfinite(weight):
      raise ValueError(f"train_grpo.reward_weights[{name!r}] = {weight} is not finite")
  if REWARD_MODEL in weights and not has_reward_model:
    raise ValueError("train_grpo.reward_weights uses 'reward_model' but no reward_dir "
                     "(REWARD_DIR) is set")
  return {name: available[name] for name in weights if name != REWARD_MODEL}


def check_verifiable(prompts: Sequence[RLPrompt]):
  """The verifiable reward checks exact-match targets only; other prompts are refused
  before the stage starts, naming their tasks."""
  unfit = [p for p in prompts if p.metric != "exact_match"]
  if unfit:
    tasks = sorted({f"{p.task} ({p.metric})" for p in unfit})
    raise ValueError(f"the 'verifiable' reward checks exact-match targets, but {len(unfit)} "
                     f"prompts are scored otherwise, first {describe(unfit[0])}; tasks: "
                     f"{', '.join(tasks)}. Drop their clusters or use the 'labeler' reward.")


def check_finite(name: str, values, prompts: Sequence[RLPrompt], texts: Sequence[str],
                 where: str):
  bad = np.flatnonzero(~np.isfinite(values))
  if bad.size:
    row = int(bad[0])
    raise ValueError(f"{where}: reward {name!r} is {values[row]} for row {row} "
                     f"({describe(prompts[row])}, response {texts[row]!r}); {bad.size} of "
                     f"{len(values)} rows are not finite")


def host_rewards(functions: Mapping[str, Callable], prompts: Sequence[RLPrompt],
                 texts: Sequence[str], finished: Sequence[bool], where: str
                 ) -> dict[str, np.ndarray]:
  """Each function's rewards [B]; one that raises or returns a non-finite value stops the
  stage naming the row, its prompt and its response."""
  out = {}
  for name, fn in functions.items():
    values = np.empty(len(prompts), np.float32)
    for row, (prompt, text, done) in enumerate(zip(prompts, texts, finished)):
      try:
        values[row] = float(fn(prompt, text, done))
      except Exception as e:  # pylint: disable=broad-except
        raise ValueError(f"{where}: reward {name!r} raised {type(e).__name__}: {e} on row "
                         f"{row} ({describe(prompt)}, response {text!r})") from e
    check_finite(name, values, prompts, texts, where)
    out[name] = values
  return out


def weighted_sum(components: Mapping[str, np.ndarray], weights: Mapping[str, float]):
  return sum(weights[name] * values for name, values in components.items()).astype(np.float32)
