"""Cluster `nli`: does a premise support, contradict or leave open a hypothesis?"""
import random

from tasks.suite import words
from tasks.suite.base import TaskType
from tasks.templates import Template as T
from tasks.templates import chain_of_thought as _cot
from tasks.templates import inverted as _inverted

LABELS = ["yes", "it is not possible to tell", "no"]
_ITEMS = ("books", "coins", "plants", "stamps", "shirts", "pens")
_ADJECTIVES = (("taller", "shorter"), ("older", "younger"), ("faster", "slower"),
               ("richer", "poorer"), ("heavier", "lighter"))


def _number_nli(rng: random.Random):
  a, b, c = rng.sample(words.lines("names.txt"), 3)
  item = rng.choice(_ITEMS)
  x, y = rng.sample(range(0, 20), 2)
  premise = f"{a} has {x} {item} and {b} has {y} {item}."
  kind = rng.choice(("more", "fewer", "unknown"))
  if kind == "unknown":
    hypothesis, answer = f"{a} has more {item} than {c}.", LABELS[1]
  else:
    hypothesis = f"{a} has {kind} {item} than {b}."
    holds = (x > y) if kind == "more" else (x < y)
    answer = LABELS[0] if holds else LABELS[2]
  return {"premise": premise, "hypothesis": hypothesis, "answer": answer,
          "options": list(LABELS)}


def _order_nli(rng: random.Random):
  a, b, c, d = rng.sample(words.lines("names.txt"), 4)
  more, less = rng.choice(_ADJECTIVES)
  premise = f"{a} is {more} than {b}. {b} is {more} than {c}."
  kind = rng.choice(("follows", "reversed", "unrelated"))
  if kind == "follows":
    hypothesis, answer = f"{a} is {more} than {c}.", LABELS[0]
    why = f"{a} beats {b} and {b} beats {c}, so {a} beats {c}."
  elif kind == "reversed":
    hypothesis, answer = f"{c} is {more} than {a}.", LABELS[2]
    why = f"{a} is {more} than {b}, who is {more} than {c}, so {c} is {less} than {a}."
  else:
    hypothesis, answer = f"{a} is {more} than {d}.", LABELS[1]
    why = f"The premise says nothing about {d}."
  return {"premise": premise, "hypothesis": hypothesis, "answer": answer,
          "options": list(LABELS), "rationale": why}


_NLI_TEMPLATES = (
    T("Premise: {premise}\nHypothesis: {hypothesis}\nDoes the premise entail the "
      "hypothesis?\n{options_}", "{answer}"),
    T("{premise}\nBased on that, is it true that \"{hypothesis}\"?\n{options_}", "{answer}"),
    T("Read: {premise}\nCan we conclude: {hypothesis}\n{options_}", "{answer}"),
    T("If {premise} then is the following also true? {hypothesis}\n{options_}", "{answer}"),
    _inverted("Premise: {premise}\nWrite a statement whose truth, given the premise, is: "
              "{answer}", "{hypothesis}"),
)

TASK_TYPES = (
    TaskType("number_nli", "nli", _number_nli, _NLI_TEMPLATES + (
        T("Given \"{premise}\", answer: {hypothesis} True?\n{options_}", "{answer}"),),
             ("premise", "hypothesis"),
             split_sizes={"train": 2500, "validation": 100, "test": 100}),
    TaskType("order_nli", "nli", _order_nli, _NLI_TEMPLATES + (
        _cot("Premise: {premise}\nHypothesis: {hypothesis}\nReason about the order, then "
             "say whether the hypothesis follows.\n{options_}"),),
             ("premise", "hypothesis"),
             split_sizes={"train": 2500, "validation": 100, "test": 100}),
)
