"""The tool suite's shipped collection through the retrievers: it reads as a collection,
and BM25 finds the gold documents of its held-out questions."""
import pytest

from tasks import formats
from tasks import render
from tasks.tool_suite import entities
from tasks.tool_suite import held_out_facts
from tasks.tool_suite import multi_hop
from tools.retrieval import bm25
from tools.retrieval import collection
from tools.retrieval import metrics
from tools.retrieval import prompts


@pytest.fixture(scope="module")
def retriever():
  return bm25.BM25Retriever.build(collection.read_collection(entities.COLLECTION_PATH))


def test_collection_reads_with_every_gold_document(retriever):
  ids = {d.id for d in retriever.documents}
  for task in (held_out_facts.TASK, multi_hop.TASK):
    for example in task.examples("test"):
      assert set(example["gold_doc_ids"]) <= ids


def _recall(retriever, examples, k, gold_of):
  hits = retriever.search_batch([e["question"] for e in examples], k=k)
  return metrics.recall_at_k([[h.document.id for h in row] for row in hits],
                             [gold_of(e) for e in examples], k)


def test_bm25_recall_on_held_out_questions(retriever):
  facts = held_out_facts.TASK.examples("test")
  assert _recall(retriever, facts, 1, lambda e: e["gold_doc_ids"]) >= 95.0
  # A multi-hop question names its first document; the second (a bridge question's
  # founder) is found only from the first one's text, so one search is not enough.
  hops = multi_hop.TASK.examples("test")
  first = _recall(retriever, hops, 5, lambda e: e["gold_doc_ids"][:1])
  both = _recall(retriever, hops, 5, lambda e: e["gold_doc_ids"])
  assert first >= 95.0 and both < first


def test_every_gold_search_action_finds_its_document_first(retriever):
  for example in multi_hop.TASK.examples("test"):
    searches = [s for s in example["steps"] if s["action"] == "search"]
    found = retriever.search_batch([s["argument"] for s in searches], k=1)
    assert [row[0].document.id for row in found] == list(example["gold_doc_ids"])


def test_rag_training_inputs_are_the_prompts_retrieval_builds():
  """The tasks render RAG inputs themselves (tasks/ may not import tools/): they must be
  what `prompts.rag_prompt` makes of the same passages at evaluation."""
  by_title = {d.title: d for d in collection.read_collection(entities.COLLECTION_PATH)}
  for task in (held_out_facts.RAG_TASK, multi_hop.RAG_TASK):
    for index, example in enumerate(task.examples("validation")[:20]):
      rendered = render.render_example(task, "validation", index, 0, formats.ZERO_SHOT)
      titles = [line.split("] ", 1)[1].split(": ", 1)[0]
                for line in example["passages"].split("\n")]
      passages = [by_title[t] for t in titles]
      assert rendered["inputs"] == prompts.rag_prompt(example["question"], passages)
      cited = prompts.extract_citations(rendered["targets"], passages)
      assert cited.doc_ids == tuple(d.id for d in passages if d.id in example["gold_doc_ids"])
      assert prompts.strip_citations(rendered["targets"]) == example["answer"]
