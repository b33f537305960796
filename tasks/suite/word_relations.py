"""Cluster `word_relations`: opposites, near-synonyms and odd-one-out over shipped lists."""
import random

from tasks.suite import words
from tasks.suite.base import TaskType
from tasks.templates import Template as T
from tasks.templates import chain_of_thought as _cot
from tasks.templates import inverted as _inverted


def _related(rng: random.Random, name: str):
  word, answer = rng.choice(words.pairs(name))
  if rng.random() < 0.5:  # the lists hold each pair once; ask in both directions
    word, answer = answer, word
  return {"word": word, "answer": answer}


def _odd_one_out(rng: random.Random):
  groups = words.by_label("categories.tsv")
  common, odd = rng.sample(sorted(groups), 2)
  members = rng.sample(groups[common], 3)
  outsider = rng.choice(groups[odd])
  options = members + [outsider]
  rng.shuffle(options)
  return {"items": ", ".join(options), "answer": outsider, "options": options,
          "rationale": f"{', '.join(members)} are each a {common}, but {outsider} is a {odd}."}


TASK_TYPES = (
    TaskType("antonym", "word_relations", lambda rng: _related(rng, "antonyms.tsv"), (
        T("What is the opposite of \"{word}\"?", "{answer}"),
        T("Give an antonym for {word}.", "{answer}"),
        T("Word: {word}\nOpposite:", "{answer}"),
        T("Which word means the reverse of {word}?", "{answer}"),
        T("Complete: {word} is to its opposite as ___", "{answer}"),
        _inverted("Name a word whose opposite is \"{answer}\".", "{word}"),
    ), ("word",), split_sizes={"train": 110, "validation": 15, "test": 15}),
    TaskType("synonym", "word_relations", lambda rng: _related(rng, "synonyms.tsv"), (
        T("Give a word that means about the same as \"{word}\".", "{answer}"),
        T("What is a synonym of {word}?", "{answer}"),
        T("Word: {word}\nSimilar word:", "{answer}"),
        T("Say {word} another way, in one word.", "{answer}"),
        T("Which word could replace {word} without changing the meaning?", "{answer}"),
        _inverted("Name a word with nearly the same meaning as \"{answer}\".", "{word}"),
    ), ("word",), split_sizes={"train": 70, "validation": 15, "test": 15}),
    TaskType("odd_one_out", "word_relations", _odd_one_out, (
        T("Which word does not belong: {items}?\n{options_}", "{answer}"),
        T("Find the odd one out among {items}.\n{options_}", "{answer}"),
        T("Words: {items}\nWhich is different from the others?\n{options_}", "{answer}"),
        _cot("Which of {items} is the odd one out? Explain, then answer.\n{options_}"),
        T("One of these is not like the rest: {items}. Which?\n{options_}", "{answer}"),
        _inverted("Write three words of one kind and one word that does not fit, with "
                  "\"{answer}\" as the misfit.", "{items}"),
    ), ("items",), split_sizes={"train": 2000, "validation": 100, "test": 100}),
)
