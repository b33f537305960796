"""Retrieval metrics beside the answer metrics: recall@k and citation accuracy."""
from typing import Collection, Sequence


def _check_lengths(what: str, a: Sequence, b: Sequence) -> None:
  if len(a) != len(b):
    raise ValueError(f"{len(a)} {what} but {len(b)} gold id sets")


def recall_at_k(retrieved_ids: Sequence[Sequence[str]], gold_ids: Sequence[Collection[str]],
                k: int) -> float:
  """Mean over queries of |gold in the first k retrieved| / |gold|, as a percentage.

  A query with two gold documents (multi-hop) that finds one of them scores 50.
  """
  _check_lengths("retrieved lists", retrieved_ids, gold_ids)
  if k < 1:
    raise ValueError(f"k={k} must be >= 1")
  total = 0.0
  for index, (retrieved, gold) in enumerate(zip(retrieved_ids, gold_ids)):
    gold = set(gold)
    if not gold:
      raise ValueError(f"query {index} has no gold document ids; recall is undefined")
    total += len(gold & set(retrieved[:k])) / len(gold)
  return 100.0 * total / max(len(gold_ids), 1)


def citation_scores(cited_ids: Sequence[Collection[str]], gold_ids: Sequence[Collection[str]]
                    ) -> dict[str, float]:
  """Precision (cited documents that are gold) and recall (gold documents cited), as
  percentages averaged over answers; an answer citing nothing has precision 0."""
  _check_lengths("citation lists", cited_ids, gold_ids)
  precision = recall = 0.0
  for cited, gold in zip(cited_ids, gold_ids):
    cited, gold = set(cited), set(gold)
    hits = len(cited & gold)
    precision += hits / len(cited) if cited else 0.0
    recall += hits / len(gold) if gold else 0.0
  n = max(len(gold_ids), 1)
  return {"citation_precision": 100.0 * precision / n, "citation_recall": 100.0 * recall / n}
