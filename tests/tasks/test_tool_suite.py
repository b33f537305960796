"""The tool-use suite: registered apart from instruct_suite, disjoint splits, held-out
entities absent from every training example, PAL programs that compute the answer and
ReAct trajectories whose observations are the collection's documents."""
import json
import re

import pytest
import seqio

import tasks
from tasks import suite
from tasks import tool_suite
from tasks.tool_suite import arithmetic
from tasks.tool_suite import entities
from tasks.tool_suite import multi_hop
from tasks.tool_suite import trajectory

ENTITY_TASKS = [t for t in tool_suite.TASK_TYPES if t.split_of is not None]


def _words(text: str) -> set[str]:
  return set(re.findall(r"\w+", text.lower()))


def test_registered_in_a_mixture_of_their_own():
  mixture = seqio.get_mixture_or_task(tasks.TOOL_MIXTURE)
  in_mixture = {t.name for t in mixture.tasks}
  assert in_mixture == {"tool_large_arithmetic", "tool_large_arithmetic_cot",
                        "tool_large_arithmetic_pal", "tool_entity_facts",
                        "tool_entity_facts_rag", "tool_multi_hop", "tool_multi_hop_cot",
                        "tool_multi_hop_rag", "tool_multi_hop_react"}
  assert set(tasks.TOOL_TASKS) == in_mixture | {n + "_fs" for n in in_mixture
                                                if not n.endswith("_cot")}
  default = seqio.get_mixture_or_task(tasks.DEFAULT_MIXTURE)
  assert not any(t.name.startswith("tool_") for t in default.tasks)
  assert len(default.tasks) == len(suite.TASK_TYPES)
  assert not {t.cluster for t in tool_suite.TASK_TYPES} & set(tasks.CLUSTERS)


def test_a_tool_task_tokenizes_through_seqio():
  task = seqio.get_mixture_or_task("tool_multi_hop_react")
  dataset = task.get_dataset({"inputs": 512, "targets": 512}, split="test", shuffle=False)
  example = next(iter(dataset.as_numpy_iterator()))
  # The layout of the ReAct loop: the prompt ends with "Thought:", the model goes on.
  assert example["inputs_pretokenized"].decode().endswith("\nThought:")
  assert example["targets_pretokenized"].decode().startswith("I need ")
  assert example["targets"][-1] == 1  # EOS


@pytest.mark.parametrize("task", tool_suite.TASK_TYPES + tuple(t for _, t in
                                                               tool_suite.TOOL_VIEWS),
                         ids=lambda t: f"{t.name}/{len(t.templates)}")
def test_splits_are_disjoint_and_full(task):
  splits = {s: task.examples(s) for s in suite.SPLITS}
  assert {s: len(e) for s, e in splits.items()} == dict(task.split_sizes)
  keys = {s: {task.key(e) for e in exs} for s, exs in splits.items()}
  assert not keys["train"] & keys["validation"] and not keys["train"] & keys["test"]
  assert not keys["validation"] & keys["test"]


def test_tool_views_have_the_same_examples():
  for _, view in tool_suite.TOOL_VIEWS:
    base = next(t for t in tool_suite.TASK_TYPES if t.name == view.name)
    assert view.examples("test") == base.examples("test")


@pytest.mark.parametrize("task", ENTITY_TASKS, ids=lambda t: t.name)
def test_each_split_asks_only_about_its_own_entities(task):
  for split in suite.SPLITS:
    own = {o.name for o in entities.in_split(split)}
    for example in task.examples(split):
      assert example["split"] == split
      named = {o.name for o in entities.organisations()
               if o.name in example["question"] or o.founder.name in example["question"]}
      assert named and named <= own


def _held_out_words() -> set[str]:
  """Every made-up word of the validation and test entities' facts."""
  out = set()
  for split in ("validation", "test"):
    for org in entities.in_split(split):
      person = org.founder
      out |= _words(" ".join([org.name.rsplit(" ", 1)[0], org.city, person.name,
                              person.birthplace]))
  return out


def test_held_out_facts_occur_in_no_training_example():
  held_out = _held_out_words()
  assert len(held_out) > 300
  seen = set()
  for task in suite.TASK_TYPES:  # instruct_suite: every training example and template
    for example in task.examples("train"):
      seen |= _words(" ".join(str(v) for v in example.values()))
    seen |= _words(" ".join(t.input + " " + t.target for t in task.templates))
  assert not held_out & seen
  # The tool suite's own training split, passages and trajectories included.
  for task in ENTITY_TASKS + [multi_hop.REACT_TASK]:
    for example in task.examples("train"):
      assert not held_out & _words(json.dumps(example)), example["question"]


def test_shipped_collection_is_the_generated_one():
  assert entities.COLLECTION_PATH.read_text(encoding="utf-8") == entities.collection_text(), (
      "regenerate with: python -m tasks.tool_suite.entities")
  documents = {d["id"]: d for d in map(json.loads, entities.collection_text().splitlines())}
  assert len(documents) == 2 * sum(entities.SPLIT_COUNTS.values())
  for task in ENTITY_TASKS:
    for example in task.examples("test"):
      gold = [documents[i] for i in example["gold_doc_ids"]]
      if task.name == "entity_facts":
        assert example["answer"] in gold[0]["text"]
      numbers = [int(n) for n in re.findall(r"\[(\d+)\]", example["citations"])]
      passages = example["passages"].split("\n")
      assert len(passages) == entities.PASSAGES
      gold_passages = [p for p in passages
                       if any(p.endswith("] " + entities.observation(d)) for d in gold)]
      assert [passages[n - 1] for n in numbers] == gold_passages
      assert len(gold_passages) == len(gold)


def test_pal_programs_compute_the_exact_answer():
  decimals = 0
  for split in suite.SPLITS:
    for example in arithmetic.TASK.examples(split):
      namespace = {}
      exec(example["program"], namespace)  # our own generated programs, not a model's
      assert str(namespace["solution"]()) == example["answer"]
      assert example["rationale"].endswith(f"= {example['answer']}.")
      decimals += "." in example["answer"]
  assert max(float(n) for n in re.findall(r"\d+\.?\d*", example["question"])) >= 1000
  assert 0.4 < decimals / sum(arithmetic.TASK.split_sizes.values()) < 0.9


def test_react_trajectories_search_calculate_and_finish():
  documents = {d["title"]: d for d in map(json.loads, entities.collection_text().splitlines())}
  for example in multi_hop.TASK.examples("test"):
    steps = example["steps"]
    assert [s["action"] for s in steps] == [trajectory.SEARCH, trajectory.SEARCH,
                                            trajectory.CALCULATOR, trajectory.FINISH]
    searched = [documents[s["argument"]] for s in steps[:2]]
    assert [d["id"] for d in searched] == list(example["gold_doc_ids"])
    assert [s["observation"] for s in steps[:2]] == [entities.observation(d) for d in searched]
    left, right = map(int, steps[2]["argument"].split(" - "))
    assert str(left - right) == steps[2]["observation"] == steps[3]["argument"]
    assert steps[3]["argument"] == example["answer"] and steps[3]["observation"] is None
    assert example["trajectory"] == trajectory.render(steps)
    assert example["trajectory"].count("Observation: ") == 3


def test_observation_spans_cover_exactly_the_tool_output():
  example = multi_hop.TASK.examples("validation")[0]
  text, spans = trajectory.render_with_observation_spans(example["steps"])
  assert text == example["trajectory"]
  assert [text[a:b] for a, b in spans] == [s["observation"] for s in example["steps"][:3]]
  for start, _ in spans:
    assert text[:start].endswith("\nObservation: ")
  bounds = [0] + [i for span in spans for i in span] + [len(text)]
  outside = "".join(text[a:b] for a, b in zip(bounds[::2], bounds[1::2]))
  assert outside.count("Thought: ") == 4 and outside.count("Observation: ") == 3
  assert "based in" not in outside  # the documents' wording, which only observations hold
