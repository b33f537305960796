"""Gold ReAct trajectories (Yao et al. 2023): Thought / Action / Observation lines, with
actions `search[query]`, `calculator[expression]` and `finish[answer]`.

Steps stay structured in the example (`steps`) beside their text (`trajectory`), so a
loss mask can leave out the observations, which the tools write and the model must not
learn to produce.

`training_target` lays a trajectory out as the ReAct loop (tools/react.py) builds it: the
prompt ends with "Thought:", the model writes each step up to and with "Observation:", and
the loop appends " <observation>\nThought:", which is marked out of the loss.
"""
from typing import Mapping, Sequence

from tasks import loss_mask

SEARCH = "search"
CALCULATOR = "calculator"
FINISH = "finish"
INSTRUCTION = (f"Answer the question in steps of Thought, Action and Observation. Actions: "
               f"{SEARCH}[query] shows the best matching document, {CALCULATOR}[expression] "
               f"computes, {FINISH}[answer] gives the answer.")


def step(thought: str, action: str, argument: str, observation: str | None) -> dict:
  return {"thought": thought, "action": action, "argument": argument,
          "observation": observation}


def render(steps: Sequence[Mapping]) -> str:
  return render_with_observation_spans(steps)[0]


def render_with_observation_spans(steps: Sequence[Mapping]
                                  ) -> tuple[str, list[tuple[int, int]]]:
  """The trajectory text and the [start, end) character spans of the observations (what
  follows "Observation: " on its line): the text the tools write, to leave out of the loss.
  """
  text, spans = "", []
  for s in steps:
    text += ("\n" if text else "") + f"Thought: {s['thought']}\n"
    text += f"Action: {s['action']}[{s['argument']}]"
    if s["observation"] is not None:
      text += "\nObservation: "
      spans.append((len(text), len(text) + len(s["observation"])))
      text += s["observation"]
  return text, spans


PROMPT_END = "\nThought:"


def training_target(steps: Sequence[Mapping]) -> str:
  """What the model writes after a prompt ending in PROMPT_END, with what the loop appends
  marked out of the loss (tasks.loss_mask)."""
  text = ""
  for s in steps:
    text += f" {s['thought']}\nAction: {s['action']}[{s['argument']}]"
    if s["observation"] is not None:
      text += "\nObservation:" + loss_mask.masked(f" {s['observation']}{PROMPT_END}")
  return text
