"""Cluster `string_editing`: reversing, capitalising, acronyms and word replacement."""
import random

from tasks.suite import words
from tasks.suite.base import TaskType
from tasks.templates import Template as T
from tasks.templates import inverted as _inverted


def _vocabulary():
  return [w for w, _ in words.pairs("categories.tsv")] + [w for w, _ in words.pairs(
      "antonyms.tsv")]


def _reverse_word(rng: random.Random):
  word = rng.choice(_vocabulary())
  return {"word": word, "answer": word[::-1]}


def _phrase(rng, n_low=2, n_high=5):
  return rng.sample(_vocabulary(), rng.randint(n_low, n_high))


def _uppercase(rng: random.Random):
  text = " ".join(_phrase(rng))
  return {"text": text, "answer": text.upper()}


def _acronym(rng: random.Random):
  chosen = _phrase(rng, 3, 5)
  return {"text": " ".join(chosen), "answer": "".join(w[0] for w in chosen).upper()}


def _replace_word(rng: random.Random):
  chosen = _phrase(rng, 3, 6)
  old = rng.choice(chosen)
  new = rng.choice([w for w in _vocabulary() if w not in chosen])
  return {"text": " ".join(chosen), "old": old, "new": new,
          "answer": " ".join(new if w == old else w for w in chosen)}


TASK_TYPES = (
    TaskType("reverse_word", "string_editing", _reverse_word, (
        T("Spell \"{word}\" backwards.", "{answer}"),
        T("Reverse the letters of the word {word}.", "{answer}"),
        T("Word: {word}\nWrite it from the last letter to the first.", "{answer}"),
        T("What do you get when you read {word} right to left?", "{answer}"),
        T("Mirror the string {word}.", "{answer}"),
        _inverted("\"{answer}\" is a word spelled backwards. Which word is it?", "{word}"),
    ), ("word",), split_sizes={"train": 300, "validation": 40, "test": 40}),
    TaskType("uppercase", "string_editing", _uppercase, (
        T("Write in capital letters: {text}", "{answer}"),
        T("Convert to upper case: {text}", "{answer}"),
        T("Text: {text}\nRepeat it with every letter capitalised.", "{answer}"),
        T("Shout this: {text}", "{answer}"),
        T("Make every letter of \"{text}\" a capital.", "{answer}"),
        _inverted("Write \"{answer}\" in lower case.", "{text}"),
    ), ("text",), split_sizes={"train": 2000, "validation": 100, "test": 100}),
    TaskType("acronym", "string_editing", _acronym, (
        T("Form an acronym from the first letters of: {text}", "{answer}"),
        T("Take the initial letter of each word in \"{text}\" and join them in capitals.",
          "{answer}"),
        T("Words: {text}\nAcronym:", "{answer}"),
        T("What are the initials of {text}?", "{answer}"),
        T("Abbreviate \"{text}\" using first letters.", "{answer}"),
        _inverted("Give a sequence of words whose acronym is {answer}.", "{text}"),
    ), ("text",), split_sizes={"train": 2000, "validation": 100, "test": 100}),
    TaskType("replace_word", "string_editing", _replace_word, (
        T("In \"{text}\", replace {old} with {new}.", "{answer}"),
        T("Swap the word {old} for {new} in this text: {text}", "{answer}"),
        T("Text: {text}\nWrite it again with {new} instead of {old}.", "{answer}"),
        T("Change {old} to {new}: {text}", "{answer}"),
        T("Substitute {new} for {old} in the phrase {text}.", "{answer}"),
        _inverted("Which word replaced which? Before: {text}\nAfter: {answer}",
                  "{old} became {new}"),
    ), ("text", "old", "new"), split_sizes={"train": 2000, "validation": 100, "test": 100}),
)
