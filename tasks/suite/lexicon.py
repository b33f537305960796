"""Tasks over real text: the adjective lexicon from the textblob package (WordNet sense
glosses with polarity scores; see tasks/data/README.md). Cluster `sentiment` gets the
polarity of an adjective in one sense; `word_relations` gets gloss <-> word."""
import functools
import random

from tasks.suite import words
from tasks.suite.base import TaskType
from tasks.templates import Template as T
from tasks.templates import inverted as _inverted

LEXICON = "textblob_adjectives.tsv"
POLARITIES = ["positive", "negative", "neutral"]
_SIZES = {"train": 1600, "validation": 150, "test": 150}
MAX_GLOSS_CHARS = 60  # longer glosses would not fit the 32-token targets of the tiny runs


def _label(score: float) -> str:
  return "positive" if score > 0.1 else "negative" if score < -0.1 else "neutral"


@functools.cache
def _short_entries() -> tuple[tuple[str, ...], ...]:
  return tuple(row for row in words.table(LEXICON) if len(row[1]) <= MAX_GLOSS_CHARS)


def _entry(rng: random.Random):
  word, sense, score = rng.choice(_short_entries())
  return {"word": word, "sense": sense, "score": float(score)}


def _polarity(rng: random.Random):
  entry = _entry(rng)
  return {"word": entry["word"], "sense": entry["sense"], "answer": _label(entry["score"]),
          "options": list(POLARITIES)}


def _gloss(rng: random.Random):
  entry = _entry(rng)
  return {"word": entry["word"], "sense": entry["sense"], "answer": entry["word"]}


TASK_TYPES = (
    TaskType("adjective_polarity", "sentiment", _polarity, (
        T("Is the adjective \"{word}\", meaning \"{sense}\", positive, negative or neutral?"
          "\n{options_}", "{answer}"),
        T("Word: {word}\nSense: {sense}\nWhat feeling does it carry?\n{options_}", "{answer}"),
        T("Someone is described as {word} ({sense}). Is that praise, criticism or "
          "neither?\n{options_}", "{answer}"),
        T("Rate the tone of \"{word}\" in the sense \"{sense}\".\n{options_}", "{answer}"),
        T("Polarity of {word} (as in: {sense})?\n{options_}", "{answer}"),
        _inverted("Give an adjective that sounds {answer}.", "{word}"),
    ), ("word", "sense"), split_sizes=dict(_SIZES)),
    TaskType("gloss_to_word", "word_relations", _gloss, (
        T("Which adjective means \"{sense}\"?", "{answer}"),
        T("Definition: {sense}\nWord:", "{answer}"),
        T("Name one word for: {sense}", "{answer}"),
        T("What is an adjective with this meaning? {sense}", "{answer}"),
        T("Find the adjective defined as \"{sense}\".", "{answer}"),
        _inverted("Define the adjective \"{word}\".", "{sense}"),
    ), ("sense",), split_sizes=dict(_SIZES), metric="rouge"),
)
