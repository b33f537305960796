"""The ReAct loop's own logic, driven by a scripted model over the project's real vocabulary.

The scripted `generate` is a deterministic stand-in for a model: it returns fixed replies (and
records what it was shown), so each test pins what the loop does with well-formed and
malformed output. The tools it calls are the real ones.
"""
import json
import pathlib

import pytest
import seqio

from tests.tools.sandbox_marks import needs_bwrap
from tools import react
from tools.registry import builtin_registry
from tools.sandbox import Limits, Sandbox

SPM = pathlib.Path(__file__).resolve().parents[2] / "tasks" / "data" / "instruct_suite.spm.model"


@pytest.fixture(scope="module")
def vocabulary():
  return seqio.SentencePieceVocabulary(str(SPM))


class ScriptedModel:
  """Replies in order (the last one repeats; text, or token ids as they are), never reading
  the stop strings, so a reply may run past "Observation:" as a decoder that overshoots would."""

  def __init__(self, vocabulary, replies):
    self.vocabulary = vocabulary
    self.replies = replies
    self.seen: list[str] = []

  def __call__(self, token_ids, stop_strings):
    assert tuple(stop_strings) == react.STOP_STRINGS
    self.seen.append(self.vocabulary.decode(list(token_ids)))
    reply = self.replies[min(len(self.seen) - 1, len(self.replies) - 1)]
    return reply if isinstance(reply, list) else self.vocabulary.encode(reply)


def run(vocabulary, replies, registry=None, **config):
  model = ScriptedModel(vocabulary, replies)
  agent = react.ReactAgent(model, vocabulary, registry or builtin_registry(),
                           react.ReactConfig(**config))
  return agent.run("What is 9283 * 31231.231?"), model


def model_written_text(trace, vocabulary):
  """The text of the ids the mask marks as the model's, one run of them per step."""
  runs, current = [], []
  for token, written in zip(trace.token_ids, trace.model_mask):
    if written:
      current.append(token)
    elif current:
      runs.append(vocabulary.decode(current))
      current = []
  return runs + ([vocabulary.decode(current)] if current else [])


def test_calculator_then_finish(vocabulary):
  trace, model = run(vocabulary, [
      "I should multiply.\nAction: calculator[9283 * 31231.231]\nObservation:",
      "The product is known.\nAction: finish[289919517.373]"])
  assert trace.status == react.FINISHED and trace.answer == "289919517.373"
  assert [step.action for step in trace.steps] == ["calculator", "finish"]
  assert trace.steps[0].observation == "289919517.373"
  assert trace.steps[0].thought == "I should multiply."
  assert model.seen[1].endswith(
      "Thought: I should multiply.\nAction: calculator[9283 * 31231.231]\n"
      "Observation: 289919517.373\nThought:")
  assert model.seen[0] == react.ReactAgent(model, vocabulary, builtin_registry()).prompt(
      "What is 9283 * 31231.231?")


def test_token_ids_and_mask_mark_exactly_the_models_tokens(vocabulary):
  replies = ["multiply\nAction: calculator[2 * 21]\nObservation:", "done\nAction: finish[42]"]
  trace, model = run(vocabulary, replies)
  assert len(trace.token_ids) == len(trace.model_mask)
  assert sum(trace.model_mask) == sum(len(vocabulary.encode(reply)) for reply in replies)
  assert model_written_text(trace, vocabulary) == replies
  prompt_ids = vocabulary.encode(model.seen[0])
  assert trace.token_ids[:len(prompt_ids)] == prompt_ids
  assert set(trace.model_mask[:len(prompt_ids)]) == {0}
  # Each call saw exactly the episode's ids so far: the sequence only ever grew.
  assert trace.text.startswith(model.seen[1])


def test_output_past_the_stop_string_is_cut_and_the_real_observation_used(vocabulary):
  trace, model = run(vocabulary, [
      "add\nAction: calculator[2 + 2]\nObservation: 5\nThought: so 5\nAction: finish[5]",
      "right\nAction: finish[4]"])
  assert trace.steps[0].observation == "4" and trace.answer == "4"
  assert "5" not in model.seen[1][len(model.seen[0]):]
  assert model_written_text(trace, vocabulary)[0] == "add\nAction: calculator[2 + 2]\nObservation:"


def test_unknown_tool_is_observed_with_the_tool_list(vocabulary):
  trace, _ = run(vocabulary, ["look it up\nAction: wikipedia[multiplication]\nObservation:",
                              "use finish\nAction: finish[1]"])
  observation = trace.steps[0].observation
  assert "Unknown tool 'wikipedia'" in observation
  assert "calculator" in observation and "finish" in observation
  assert trace.status == react.FINISHED


def test_step_without_an_action_gets_a_reminder(vocabulary):
  trace, model = run(vocabulary, ["I am thinking without acting.\nObservation:",
                                  "Now I act.\nAction: finish[7]"])
  assert trace.steps[0].action is None
  assert trace.steps[0].observation.startswith("No action found.")
  assert "Action: tool[argument]" in model.seen[1]
  assert trace.answer == "7"


@pytest.mark.parametrize("reply,problem", [
    ("act\nAction: calculator 2 + 2\nObservation:", "Could not read the action"),
    ("act\nAction: calculator[2 + (3\nObservation:", "has no closing ']'"),
])
def test_unreadable_action_is_explained(vocabulary, reply, problem):
  trace, _ = run(vocabulary, [reply, "ok\nAction: finish[4]"])
  assert problem in trace.steps[0].observation and trace.answer == "4"


def test_runaway_thought_is_cut_at_the_step_limit(vocabulary):
  trace, _ = run(vocabulary, ["and then" * 300, "short\nAction: finish[3]"],
                 max_step_tokens=40)
  first = trace.steps[0]
  assert first.cut and first.action is None
  assert "cut at its length limit" in first.observation
  assert model_written_text(trace, vocabulary)[0] == vocabulary.decode(
      vocabulary.encode("and then" * 300)[:40])
  assert trace.answer == "3"


def test_model_that_never_finishes_hits_the_step_limit(vocabulary):
  trace, model = run(vocabulary, ["again\nAction: calculator[1 + 1]\nObservation:"],
                     max_steps=3)
  assert trace.status == react.STEP_LIMIT and trace.answer is None
  assert len(trace.steps) == 3 and len(model.seen) == 3


def test_episode_stops_at_the_token_budget(vocabulary):
  prompt = react.ReactAgent(None, vocabulary, builtin_registry()).prompt(
      "What is 9283 * 31231.231?")
  budget = len(vocabulary.encode(prompt)) + 30
  trace, _ = run(vocabulary, ["again\nAction: calculator[1 + 1]\nObservation:"],
                 max_total_tokens=budget)
  assert trace.status == react.TOKEN_LIMIT and trace.answer is None
  # The model never writes past the budget; only the last observation may end beyond it.
  last_model_token = max(i for i, written in enumerate(trace.model_mask) if written)
  assert last_model_token < budget


def test_end_of_sequence_ends_the_models_turn(vocabulary):
  reply = [*vocabulary.encode("thinking"), vocabulary.eos_id,
           *vocabulary.encode("Action: finish[9]")]
  trace, model = run(vocabulary, [reply, "now\nAction: finish[8]"])
  assert trace.steps[0].action is None and trace.answer == "8"
  assert vocabulary.eos_id not in trace.token_ids
  assert "finish[9]" not in model.seen[1]


@pytest.mark.parametrize("make_vocabulary", [lambda: seqio.SentencePieceVocabulary(str(SPM)),
                                             seqio.ByteVocabulary],
                         ids=["sentencepiece", "bytes"])
def test_seams_read_as_one_text_with_or_without_a_dummy_prefix(make_vocabulary):
  vocabulary = make_vocabulary()
  # A model over bytes writes the space after "Thought:" itself; over SentencePiece its first
  # piece carries it.
  dummy_prefix = vocabulary.decode([*vocabulary.encode("a"), *vocabulary.encode("b")]) == "a b"
  space = "" if dummy_prefix else " "
  trace, _ = run(vocabulary, [f"{space}double\nAction: calculator[2 * 21]",
                              f"{space}so\nAction: finish[42]"])
  assert trace.text.endswith("Question: What is 9283 * 31231.231?\nThought: double\n"
                             "Action: calculator[2 * 21]\nObservation: 42\nThought: so\n"
                             "Action: finish[42]")


def test_failing_tool_is_an_observation(vocabulary):
  trace, _ = run(vocabulary, ["divide\nAction: calculator[1 / 0]\nObservation:",
                              "give up\nAction: finish[none]"])
  assert trace.steps[0].observation == "calculator failed: division by zero"


def test_search_passed_in_is_called_with_the_argument(vocabulary):
  capitals = {"France": "[doc-7] The capital of France is Paris."}
  registry = builtin_registry(search=lambda query: capitals.get(query, "no passage found"))
  trace, _ = run(vocabulary, ["search\nAction: search[France]\nObservation:",
                              "found it\nAction: finish[Paris]"], registry=registry)
  assert trace.steps[0].observation == capitals["France"] and trace.answer == "Paris"


def test_long_observation_is_shortened(vocabulary):
  registry = builtin_registry(search=lambda query: "word " * 500)
  trace, _ = run(vocabulary, ["search\nAction: search[x]\nObservation:",
                              "ok\nAction: finish[x]"], registry=registry,
                 max_observation_chars=50)
  assert len(trace.steps[0].observation) == 50 + len(" ...")


def test_trace_round_trips_through_json(vocabulary):
  trace, _ = run(vocabulary, ["multiply\nAction: calculator[3 * 4]\nObservation:",
                              "done\nAction: finish[12]"])
  assert react.ReactTrace.from_json(json.loads(json.dumps(trace.to_json()))) == trace


@needs_bwrap
def test_python_tool_runs_in_the_sandbox(vocabulary):
  registry = builtin_registry(sandbox=Sandbox(Limits(cpu_seconds=1, wall_seconds=20)))
  trace, _ = run(vocabulary, [
      "compute\nAction: python[print(sum([9283, 31231]))]\nObservation:",
      "try more\nAction: python[print(1 / 0)]\nObservation:",
      "done\nAction: finish[40514]"], registry=registry)
  assert trace.steps[0].observation == "40514"
  assert trace.steps[1].observation == "error: ZeroDivisionError: division by zero"
  assert trace.answer == "40514"


def test_prompt_text_replaces_the_whole_prompt(vocabulary):
  model = ScriptedModel(vocabulary, ["I know it.\nAction: finish[7]"])
  agent = react.ReactAgent(model, vocabulary, builtin_registry(),
                           prompt_text=lambda question: f"<turn>{question}</turn>\nThought:")
  trace = agent.run("What is 3 + 4?")
  assert model.seen == ["<turn>What is 3 + 4?</turn>\nThought:"]
  assert trace.answer == "7"
  assert trace.model_mask[:len(vocabulary.encode("<turn>"))] == [0] * len(
      vocabulary.encode("<turn>"))
