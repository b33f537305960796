"""What a retriever returns: documents with their scores and ranks, best first."""
import dataclasses

from tools.retrieval.collection import Document


@dataclasses.dataclass(frozen=True)
class Hit:
  """A retrieved document, its score (higher is better) and its rank (1 = best)."""
  document: Document
  score: float
  rank: int


def check_k(k: int) -> None:
  if k < 1:
    raise ValueError(f"k={k}: must retrieve at least one document")
