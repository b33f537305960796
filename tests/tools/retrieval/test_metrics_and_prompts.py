"""recall@k and citation scores against hand-computed values; passages numbered in prompts
and citations read back from answers."""
import pytest

from tools.retrieval import metrics
from tools.retrieval import prompts
from tools.retrieval.collection import Document


def test_recall_at_k_by_hand():
  retrieved = [["a", "b", "c"], ["x", "y", "z"], ["q", "p", "r"]]
  gold = [{"b"}, {"z", "w"}, {"r", "p"}]
  # k=1: 0, 0, 0;  k=2: 1, 0, 1/2;  k=3: 1, 1/2, 1
  assert metrics.recall_at_k(retrieved, gold, 1) == 0.0
  assert metrics.recall_at_k(retrieved, gold, 2) == pytest.approx(100 * 1.5 / 3)
  assert metrics.recall_at_k(retrieved, gold, 3) == pytest.approx(100 * 2.5 / 3)
  with pytest.raises(ValueError, match="no gold document ids"):
    metrics.recall_at_k([["a"]], [set()], 1)
  with pytest.raises(ValueError, match="2 retrieved lists but 1 gold"):
    metrics.recall_at_k([["a"], ["b"]], [{"a"}], 1)


def test_citation_scores_by_hand():
  scores = metrics.citation_scores([["a", "b"], [], ["c"]], [["a"], ["d"], ["c", "e"]])
  assert scores["citation_precision"] == pytest.approx(100 * (0.5 + 0 + 1) / 3)
  assert scores["citation_recall"] == pytest.approx(100 * (1 + 0 + 0.5) / 3)


DOCS = [Document("n7", "Velmora", "Founded in 1873."), Document("n2", "Tarrow", "Born 1841.")]


def test_passages_are_numbered_with_titles():
  assert prompts.format_passages(DOCS) == "[1] Velmora: Founded in 1873.\n[2] Tarrow: Born 1841."
  prompt = prompts.rag_prompt("When?", DOCS)
  assert prompt.startswith(prompts.RAG_INSTRUCTION)
  assert "\n[2] Tarrow: Born 1841.\n" in prompt and prompt.endswith("Question: When?\nAnswer:")


def test_citations_read_back_and_stripped():
  answer = "Founded in 1873 [1], by a man born 1841 [2][1] (see also [1, 9])."
  citations = prompts.extract_citations(answer, DOCS)
  assert citations.doc_ids == ("n7", "n2")
  assert citations.unknown_numbers == (9,)
  assert prompts.strip_citations("1873 [1].") == "1873."
  assert prompts.extract_citations("no citation", DOCS) == prompts.Citations((), ())
