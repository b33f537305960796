"""Ranked comparisons for reward modelling: the format, a JSONL loader, and the labeler.

A comparison is one prompt with K = 2..9 responses and a rank per response (0 = best;
equal ranks are ties). The reward model trains on every pair of different ranks; tied
pairs carry no preference and are dropped.

JSONL, one comparison per line, either
  {"prompt": str, "responses": [str, ...], "ranks": [int, ...]}      (ranked, K >= 2)
  {"prompt": str, "chosen": str, "rejected": str}                    (one pair)
Extra fields (task, scores, ...) are kept in `meta`. Four of them mean something to the
reward model, and a row where they do not fit fails naming its line: `response_ids` (per
response, the token ids a policy sampled: it trains on those ids rather than on the
re-encoded text), `finished` (per response, False when cut off before EOS),
`demonstration` (the reference answer it is normalised on) and `demonstration_index`
(which response is that answer, or null). Ranks are integers >= 0.

The labeler stands in for InstructGPT's human labelers on the embedded suite, where the
right answer of every prompt is known. Its rubric, per response (`label`):
  correct   (weight 2): 1 if the response equals the task's answer after case/space
            normalisation; free-text tasks (metric "rouge") get ROUGE-L F1 instead.
  helpful   (weight 1): 1 if the response is non-empty, finished (the sampler emitted EOS)
            and at most twice the reference's length + 2 words; 0.5 if finished but longer;
            0 if empty or cut off.
  honest    (weight 0.5): the response commits to one answer. Classification: exactly one
            of the offered options appears in it (an invented label or a list of several
            options scores 0). Numeric answers: exactly one number appears. Other tasks: 1.
  harmless  (weight 0.5): no degenerate output. 0 if a word repeats 3 times in a row or
            8 consecutive words of the prompt are copied into the response; else 1.
  total = 2 correct + helpful + 0.5 honest + 0.5 harmless, in [0, 4].
Responses are ranked by total, equal totals tie.
"""
import dataclasses
import itertools
import json
import pathlib
import re
from typing import Any, Iterable, Sequence

from etils import epath
from rouge_score import rouge_scorer

from tasks import jsonl_source
from tasks.json_text import BadDataError

MIN_RESPONSES, MAX_RESPONSES = 2, 9
WEIGHTS = {"correct": 2.0, "helpful": 1.0, "honest": 0.5, "harmless": 0.5}
MAX_SCORE = sum(WEIGHTS.values())


@dataclasses.dataclass(frozen=True)
class Comparison:
  prompt: str
  responses: tuple[str, ...]
  ranks: tuple[int, ...]  # 0 = best; equal values tie
  meta: dict = dataclasses.field(default_factory=dict, compare=False)

  def pairs(self) -> list[tuple[int, int]]:
    """(better, worse) response indices for every pair of different ranks."""
    return [(i, j) if self.ranks[i] < self.ranks[j] else (j, i)
            for i, j in itertools.combinations(range(len(self.responses)), 2)
            if self.ranks[i] != self.ranks[j]]

  def to_json(self) -> dict:
    return {"prompt": self.prompt, "responses": list(self.responses),
            "ranks": list(self.ranks), **self.meta}


@dataclasses.dataclass
class SkipCounts:
  """Comparisons left out, by reason (reported, never silent)."""
  fewer_than_two_responses: int = 0
  only_ties: int = 0

  @property
  def total(self) -> int:
    return self.fewer_than_two_responses + self.only_ties


def ranks_from_scores(scores: Sequence[float]) -> tuple[int, ...]:
  """Dense ranks, 0 for the highest score; equal scores share a rank."""
  distinct = sorted({round(s, 6) for s in scores}, reverse=True)
  return tuple(distinct.index(round(s, 6)) for s in scores)


# Ranks and token ids travel as int32; a negative rank would read as "no response slot".
INT32_MAX = 2**31 - 1


def _parse_row(row: dict, where: str) -> Comparison:
  if not isinstance(row.get("prompt"), str):
    raise BadDataError(f"{where}: field 'prompt' (a string) is missing")
  if "chosen" in row or "rejected" in row:
    for field in ("chosen", "rejected"):
      if not isinstance(row.get(field), str):
        raise BadDataError(f"{where}: a pair needs string fields 'chosen' and "
                           f"'rejected'; {field!r} is missing or not a string")
    meta = {k: v for k, v in row.items() if k not in ("prompt", "chosen", "rejected")}
    comparison = Comparison(row["prompt"], (row["chosen"], row["rejected"]), (0, 1), meta)
  else:
    comparison = _parse_ranked(row, where)
  _check_meta(comparison, where)
  return comparison


def _parse_ranked(row: dict, where: str) -> Comparison:
  responses, ranks = row.get("responses"), row.get("ranks")
  if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
    raise BadDataError(f"{where}: field 'responses' (a list of strings) is missing")
  if not isinstance(ranks, list) or len(ranks) != len(responses) or not all(
      isinstance(r, int) and not isinstance(r, bool) and 0 <= r <= INT32_MAX for r in ranks):
    raise BadDataError(f"{where}: field 'ranks' must be a list of {len(responses)} "
                       f"integers from 0 (best) to {INT32_MAX}, one per response; got {ranks!r}")
  if len(responses) > MAX_RESPONSES:
    raise BadDataError(f"{where}: {len(responses)} responses; at most {MAX_RESPONSES} are "
                       f"allowed per comparison")
  meta = {k: v for k, v in row.items() if k not in ("prompt", "responses", "ranks")}
  return Comparison(row["prompt"], tuple(responses), tuple(ranks), meta)


def _check_meta(comparison: Comparison, where: str):
  """The extra fields the reward model reads (see the module docstring) must fit it."""
  k, meta = len(comparison.responses), comparison.meta
  finished = meta.get("finished")
  if "finished" in meta and (not isinstance(finished, list) or len(finished) != k
                               or not all(isinstance(f, bool) for f in finished)):
    raise BadDataError(f"{where}: field 'finished' must be a list of {k} booleans, one per "
                       f"response; got {finished!r}")
  if "demonstration" in meta and not isinstance(meta["demonstration"], str):
    raise BadDataError(f"{where}: field 'demonstration' must be a string; got "
                       f"{meta['demonstration']!r}")
  ids = meta.get("response_ids")
  if ids is not None and (not isinstance(ids, list) or len(ids) != k or not all(
      isinstance(row, list) and all(isinstance(t, int) and not isinstance(t, bool)
                                    and 0 < t <= INT32_MAX for t in row) for row in ids)):
    raise BadDataError(f"{where}: field 'response_ids' must hold {k} lists of token ids "
                       f"(positive integers), one per response")
  index = meta.get("demonstration_index")
  if index is not None and (not isinstance(index, int) or isinstance(index, bool)
                            or not 0 <= index < k):
    raise BadDataError(f"{where}: field 'demonstration_index' must be null or a response "
                       f"index from 0 to {k - 1}; got {index!r}")


def usable(comparisons: Iterable[Comparison], skipped: SkipCounts) -> list[Comparison]:
  """Drops (and counts) comparisons with < 2 responses or with every response tied."""
  kept = []
  for c in comparisons:
    if len(c.responses) < MIN_RESPONSES:
      skipped.fewer_than_two_responses += 1
    elif not c.pairs():
      skipped.only_ties += 1
    else:
      kept.append(c)
  return kept


def read_jsonl(path: str | pathlib.Path) -> tuple[list[Comparison], SkipCounts]:
  """Loads ranked or pairwise comparisons; malformed lines fail naming file and line."""
  parsed = [_parse_row(row, f"{path}:{line_number}")
            for line_number, row in jsonl_source.numbered_rows(path)]
  skipped = SkipCounts()
  return usable(parsed, skipped), skipped


def to_jsonl(comparisons: Iterable[Comparison]) -> str:
  return "".join(json.dumps(c.to_json()) + "\n" for c in comparisons)


def write_jsonl(path: str | pathlib.Path, comparisons: Iterable[Comparison]):
  epath.Path(path).write_text(to_jsonl(comparisons))


# ---------------------------------------------------------------------------------------
# The programmatic labeler.

_WORD = re.compile(r"[A-Za-z0-9']+")
_NUMBER = re.compile(r"-?\d+")
_ROUGE = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def _normalize(text: str) -> str:
  return " ".join(text.strip().lower().split())


def _words(text: str) -> list[str]:
  return _WORD.findall(text.lower())


def _correct(response: str, answer: str, metric: str) -> float:
  if _normalize(response) == _normalize(answer):
    return 1.0
  if metric == "rouge":
    return _ROUGE.score(answer, response)["rougeL"].fmeasure
  return 0.0


def _helpful(response: str, answer: str, finished: bool) -> float:
  if not response.strip() or not finished:
    return 0.0
  return 1.0 if len(_words(response)) <= 2 * len(_words(answer)) + 2 else 0.5


def _honest(response: str, answer: str, choices: Sequence[str]) -> float:
  if choices:
    text = f" {_normalize(response)} "
    named = [c for c in choices if f" {_normalize(c)} " in text]
    return 1.0 if len(named) == 1 else 0.0
  if _NUMBER.fullmatch(answer.strip()):
    return 1.0 if len(_NUMBER.findall(response)) == 1 else 0.0
  return 1.0


def _harmless(response: str, prompt: str) -> float:
  words = _words(response)
  if any(a == b == c for a, b, c in zip(words, words[1:], words[2:])):
    return 0.0
  prompt_text = " " + " ".join(_words(prompt)) + " "
  for start in range(len(words) - 7):
    if " " + " ".join(words[start:start + 8]) + " " in prompt_text:
      return 0.0
  return 1.0


def label(prompt: str, response: str, answer: str, *, choices: Sequence[str] = (),
          metric: str = "exact_match", finished: bool = True) -> dict[str, float]:
  """The rubric's parts and their weighted total (see the module docstring)."""
  parts = {"correct": _correct(response, answer, metric),
           "helpful": _helpful(response, answer, finished),
           "honest": _honest(response, answer, choices),
           "harmless": _harmless(response, prompt)}
  parts["total"] = sum(WEIGHTS[k] * v for k, v in parts.items())
  return parts


def rank_responses(prompt: str, responses: Sequence[str], finished: Sequence[bool],
                   answer: str, *, choices: Sequence[str] = (), metric: str = "exact_match",
                   meta: dict[str, Any] | None = None) -> Comparison:
  """Labels every response and ranks them into a Comparison (labels kept in meta)."""
  labels = [label(prompt, r, answer, choices=choices, metric=metric, finished=f)
            for r, f in zip(responses, finished)]
  totals = [lab["total"] for lab in labels]
  return Comparison(prompt, tuple(responses), ranks_from_scores(totals),
                    dict(meta or {}, labeler_scores=totals))
