"""The rag, pal and react strategies end to end on a tiny random T5 (its answers are wrong;
what is checked is the plumbing: traces written, failures recorded, recall@k computed from
the retrieved ids), and their pieces."""
import dataclasses
import json

import pytest

import tasks  # registers the tool suite; pylint: disable=unused-import
from tasks import vocab
from tests.model_configs import TINY_T5, model_for
from tests.tools.sandbox_marks import needs_bwrap
from tests.trainer import one_device
from tools import react
from tools.retrieval import metrics as retrieval_metrics
from tools.sandbox import Sandbox
from trainer import evaluation, prompting, react_decoder, tool_strategies

LENGTHS = {"inputs": 256, "targets": 8}
EXAMPLES = 4


@pytest.fixture(scope="module")
def tiny_t5():
  model = model_for(dataclasses.replace(TINY_T5, vocab_size=2048))  # the suite's vocabulary
  return (model, *one_device.initialised(model, seed=2))


def _evaluate(tiny_t5, tmp_path, strategy, task="tool_suite"):
  model, params, shardings, mesh, rules = tiny_t5
  ev = evaluation.Evaluation(strategy.name, task, LENGTHS, batch_size=4,
                             num_examples=EXAMPLES, strategy=strategy,
                             rank_classification=False)
  results = ev.run(model, params, shardings, mesh, rules)
  ev.write(results, str(tmp_path), step=0)
  out = tmp_path / "eval" / strategy.name
  traces = [json.loads(line) for line in (out / "traces.jsonl").read_text().splitlines()]
  assert json.loads((out / "results.json").read_text())["strategy"] == strategy.name
  assert strategy.name in (out / "results.md").read_text()
  return results, traces


def test_tool_strategies_pick_the_types_with_that_tool():
  for name, expected in (("rag", ["tool_entity_facts", "tool_multi_hop"]),
                         ("pal", ["tool_large_arithmetic"]), ("react", ["tool_multi_hop"])):
    ev = evaluation.Evaluation(name, "tool_suite", LENGTHS,
                               strategy=prompting.PromptStrategy(name))
    assert sorted(ev.task_names) == expected, name
    assert ev.eos_id() == vocab.default_vocabulary().eos_id == 1  # the suite vocabulary's EOS
  with pytest.raises(ValueError, match="no task"):
    evaluation.Evaluation("x", "tool_large_arithmetic", LENGTHS,
                          strategy=prompting.PromptStrategy("rag"))


@pytest.mark.slow
def test_rag_end_to_end(tiny_t5, tmp_path):
  results, traces = _evaluate(tiny_t5, tmp_path, prompting.PromptStrategy("rag", top_k=3))
  assert len(traces) == 2 * EXAMPLES
  for task in ("tool_entity_facts", "tool_multi_hop"):
    mine = [t for t in traces if t["task"] == task]
    assert all(len(t["retrieved"]) == 3 for t in mine)
    assert all("\n[3] " in t["prompt"] and "\n[4] " not in t["prompt"] for t in mine)
    recall = retrieval_metrics.recall_at_k([[r["id"] for r in t["retrieved"]] for t in mine],
                                           [t["gold_doc_ids"] for t in mine], 3)
    assert results["tasks"][task]["recall@3"] == pytest.approx(recall)
    assert "exact_match" in results["tasks"][task]
  # The questions name their entities: BM25 finds most gold documents.
  assert results["tasks"]["tool_entity_facts"]["recall@3"] >= 50


def test_pal_end_to_end_records_each_program_outcome(tiny_t5, tmp_path):
  results, traces = _evaluate(tiny_t5, tmp_path, prompting.PromptStrategy("pal"))
  values = results["tasks"]["tool_large_arithmetic"]
  assert len(traces) == EXAMPLES
  statuses = [t["pal"]["status"] for t in traces]
  failures = sum(v for k, v in values.items() if k.startswith("failures/"))
  assert failures + values["program_ok"] / 100 * EXAMPLES == pytest.approx(EXAMPLES)
  for trace, status in zip(traces, statuses):
    assert "Write a Python function solution()" in trace["prompt"]
    assert (trace["answer"] == "") == (status != "ok")


@pytest.mark.slow
def test_react_end_to_end_continues_from_the_cache(tiny_t5, tmp_path):
  strategy = prompting.PromptStrategy("react", react_max_steps=2, react_step_tokens=8)
  results, traces = _evaluate(tiny_t5, tmp_path, strategy)
  values = results["tasks"]["tool_multi_hop"]
  assert len(traces) == EXAMPLES
  assert values["prefills"] == EXAMPLES
  steps = [len(t["react"]["steps"]) for t in traces]
  # Every step after an episode's first is a continuation, never a second prefill.
  assert values["continuations"] == sum(steps) - EXAMPLES
  for trace in traces:
    episode = trace["react"]
    assert episode["status"] in (react.FINISHED, react.STEP_LIMIT, react.TOKEN_LIMIT)
    assert len(episode["token_ids"]) == len(episode["model_mask"])
    assert episode["text"].startswith("Answer the question in steps")
    for step in episode["steps"]:
      # The random model writes no readable action: the loop says so and carries on.
      assert step["action"] == "finish" or step["observation"]


def test_stop_sequences_spell_the_stop_string():
  vocabulary = vocab.default_vocabulary()
  found = react_decoder.stop_sequences(vocabulary, react.STOP_STRINGS)
  assert found
  for ids in found:
    assert "Observation:" in vocabulary.decode(list(ids))
  in_text = [int(i) for i in vocabulary.encode("Thought: look it up\nObservation: x")]
  assert any(tuple(in_text[i:i + len(s)]) == s for s in found for i in range(len(in_text)))


def test_a_sandbox_that_cannot_start_is_a_recorded_failure():
  generations = ["```python\nprint(6 * 7)\n```", "def solution(:\n  return 1"]
  answers, extra, outcomes = tool_strategies.run_programs(
      generations, Sandbox(bwrap="/nonexistent/bwrap"))
  assert answers == ["", ""]
  assert [o.status for o in outcomes] == ["sandbox_unavailable", "syntax_error"]
  assert extra == {"program_ok": 0.0, "failures/sandbox_unavailable": 1.0,
                   "failures/syntax_error": 1.0}


@needs_bwrap
def test_programs_run_in_the_sandbox():
  answers, extra, _ = tool_strategies.run_programs(
      ["```python\nprint(9283 * 3)\n```", "def solution():\n    return 1 / 0"], Sandbox())
  assert answers == ["27849", ""]
  assert extra == {"program_ok": 50.0, "failures/error": 1.0}
