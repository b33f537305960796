"""Cluster `topic`: which category a word or a list of words belongs to; number parity."""
import random

from tasks.suite import words
from tasks.suite.base import TaskType
from tasks.templates import Template as T
from tasks.templates import inverted as _inverted


def _word_category(rng: random.Random):
  word, category = rng.choice(words.pairs("categories.tsv"))
  return {"word": word, "answer": category,
          "options": sorted(words.by_label("categories.tsv"))}


def _list_topic(rng: random.Random):
  groups = words.by_label("categories.tsv")
  category = rng.choice(sorted(groups))
  return {"items": ", ".join(rng.sample(groups[category], 3)), "answer": category,
          "options": sorted(groups)}


def _parity(rng: random.Random):
  n = rng.randint(0, 9999)
  return {"number": n, "answer": "even" if n % 2 == 0 else "odd", "options": ["even", "odd"]}


TASK_TYPES = (
    TaskType("word_category", "topic", _word_category, (
        T("What kind of thing is a {word}?\n{options_}", "{answer}"),
        T("Word: {word}\nWhich category does it belong to?\n{options_}", "{answer}"),
        T("Classify \"{word}\".\n{options_}", "{answer}"),
        T("A {word} is an example of which group?\n{options_}", "{answer}"),
        T("Put {word} into the right category.\n{options_}", "{answer}"),
        _inverted("Name something that is a {answer}.", "{word}"),
    ), ("word",), split_sizes={"train": 100, "validation": 14, "test": 14}),
    TaskType("list_topic", "topic", _list_topic, (
        T("What do these have in common: {items}?\n{options_}", "{answer}"),
        T("Items: {items}\nWhich category covers all of them?\n{options_}", "{answer}"),
        T("Give the group that {items} belong to.\n{options_}", "{answer}"),
        T("Topic of the list {items}?\n{options_}", "{answer}"),
        T("{items}: what are they?\n{options_}", "{answer}"),
        _inverted("List three examples of a {answer}.", "{items}"),
    ), ("items",), split_sizes={"train": 2000, "validation": 100, "test": 100}),
    TaskType("parity", "topic", _parity, (
        T("Is {number} even or odd?\n{options_}", "{answer}"),
        T("Number: {number}\nParity?\n{options_}", "{answer}"),
        T("Can {number} be split into two equal whole halves? Say even or odd.\n{options_}",
          "{answer}"),
        T("Tell whether {number} is divisible by two.\n{options_}", "{answer}"),
        T("Classify {number} by parity.\n{options_}", "{answer}"),
        _inverted("Write an {answer} number.", "{number}"),
    ), ("number",), split_sizes={"train": 3000, "validation": 100, "test": 100}),
)
