"""Metric functions for seqio's Evaluator, and the matching postprocessors.

Targets and predictions reach the metrics as text after `postprocess_for`: stripped, and
for chain-of-thought tasks reduced to the answer after the fixed answer phrase.
"""
from typing import Callable, Sequence

from tasks import templates


def _normalize(text: str) -> str:
  return " ".join(text.strip().lower().split())


def _references(target) -> list[str]:
  return [target] if isinstance(target, str) else list(target)


def exact_match(targets: Sequence, predictions: Sequence[str]) -> dict[str, float]:
  """Percentage of predictions equal to their target (or any of its references) after
  case/space normalization."""
  if len(targets) != len(predictions):
    raise ValueError(f"{len(targets)} targets but {len(predictions)} predictions")
  hits = sum(_normalize(p) in {_normalize(r) for r in _references(t)}
             for t, p in zip(targets, predictions))
  return {"exact_match": 100.0 * hits / max(len(targets), 1)}


def _rouge(rouge_type: str, targets: Sequence, predictions: Sequence[str]) -> dict[str, float]:
  """F1 x100 of `rouge_type` (rouge-score, Porter stemming as FLAN and Tk-Instruct use), the
  maximum over references when a target is a list of them, averaged over examples."""
  from rouge_score import rouge_scorer  # pulls in nltk (1.5 s): only when scoring
  if len(targets) != len(predictions):
    raise ValueError(f"{len(targets)} targets but {len(predictions)} predictions")
  scorer = rouge_scorer.RougeScorer([rouge_type], use_stemmer=True)
  total = 0.0
  for target, prediction in zip(targets, predictions):
    total += max(scorer.score(r, prediction)[rouge_type].fmeasure for r in _references(target))
  return {rouge_type: 100.0 * total / max(len(predictions), 1)}


def rouge_1(targets: Sequence, predictions: Sequence[str]) -> dict[str, float]:
  """ROUGE-1 (unigram overlap) F1 x100."""
  return _rouge("rouge1", targets, predictions)


def rouge_l(targets: Sequence, predictions: Sequence[str]) -> dict[str, float]:
  """ROUGE-L (longest common subsequence) F1 x100."""
  return _rouge("rougeL", targets, predictions)


def rank_classification_accuracy(targets: Sequence[int], scores: Sequence[Sequence[float]]
                                 ) -> dict[str, float]:
  """T0-style: percentage of examples whose best-scored choice (summed log-prob) is the
  right one. A tie goes to the earlier choice, as numpy's argmax does; a target of -1 (the
  right answer is not among the choices) counts as a miss."""
  if len(targets) != len(scores):
    raise ValueError(f"{len(targets)} targets but {len(scores)} score lists")
  hits = 0
  for index, (target, choice_scores) in enumerate(zip(targets, scores)):
    if not choice_scores:
      raise ValueError(f"example {index} has no scored choices")
    hits += int(max(range(len(choice_scores)), key=choice_scores.__getitem__) == target)
  return {"rank_accuracy": 100.0 * hits / max(len(targets), 1)}


_BY_KIND = {"exact_match": [exact_match], "rouge": [exact_match, rouge_1, rouge_l]}


def metric_fns_for(kind: str) -> list[Callable]:
  if kind not in _BY_KIND:
    raise ValueError(f"unknown metric kind {kind!r}; known: {sorted(_BY_KIND)}")
  return list(_BY_KIND[kind])


def _text(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _postprocess_plain(output, example=None, is_target=False):
  del example, is_target
  return _text(output).strip()


def _postprocess_cot(output, example=None, is_target=False):
  del example, is_target
  return templates.extract_cot_answer(_text(output))


def postprocess_for(cot: bool) -> Callable:
  return _postprocess_cot if cot else _postprocess_plain


def postprocess_references(output, example=None, is_target=False):
  """Targets become all of the example's references (NIv2); predictions are stripped."""
  if is_target and example is not None and "references" in example:
    return [_text(r) for r in example["references"]]
  return _text(output).strip()
