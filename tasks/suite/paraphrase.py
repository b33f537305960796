"""Cluster `paraphrase`: do two sentences say the same thing?"""
import random

from tasks.suite import words
from tasks.suite.base import TaskType
from tasks.templates import Template as T
from tasks.templates import inverted as _inverted

_FRAMES = ("The {w} house was near the river.", "Everyone thought the test was {w}.",
           "She gave a {w} answer to the question.", "It was a {w} day in the village.",
           "The old man felt {w} after the walk.", "They found the story quite {w}.",
           "His plan seemed {w} to me.", "We had a {w} time at the fair.")


def _synonym_swap(rng: random.Random):
  frame = rng.choice(_FRAMES)
  same = rng.random() < 0.5
  word, partner = rng.choice(words.pairs("synonyms.tsv" if same else "antonyms.tsv"))
  if rng.random() < 0.5:
    word, partner = partner, word
  return {"first": frame.format(w=word), "second": frame.format(w=partner),
          "answer": "yes" if same else "no", "options": ["yes", "no"]}


def _reorder(rng: random.Random):
  a, b = rng.sample(words.lines("names.txt"), 2)
  city = rng.choice(words.lines("places.txt"))
  first = f"{a} met {b} in {city}."
  same = rng.random() < 0.5
  second = (f"In {city}, {b} and {a} met." if same
            else f"{a} met {b} far away from {city}.")
  return {"first": first, "second": second, "answer": "yes" if same else "no",
          "options": ["yes", "no"]}


_TEMPLATES = (
    T("Sentence 1: {first}\nSentence 2: {second}\nDo they mean the same?\n{options_}",
      "{answer}"),
    T("Is \"{second}\" a paraphrase of \"{first}\"?\n{options_}", "{answer}"),
    T("{first}\n{second}\nSame meaning?\n{options_}", "{answer}"),
    T("Could one replace \"{first}\" by \"{second}\" without changing what it says?"
      "\n{options_}", "{answer}"),
    T("Compare these: A) {first} B) {second} Equivalent?\n{options_}", "{answer}"),
    _inverted("Here is a sentence: {first}\nWrite a second sentence; the answer to "
              "\"do both mean the same?\" must be {answer}.", "{second}"),
)

TASK_TYPES = (
    TaskType("synonym_paraphrase", "paraphrase", _synonym_swap, _TEMPLATES,
             ("first", "second"), split_sizes={"train": 800, "validation": 80, "test": 80}),
    TaskType("reorder_paraphrase", "paraphrase", _reorder, _TEMPLATES,
             ("first", "second"), split_sizes={"train": 2000, "validation": 100, "test": 100}),
)
