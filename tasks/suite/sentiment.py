"""Cluster `sentiment`: polarity of short reviews built from the shipped sentiment lexicon."""
import random

from tasks.suite import words
from tasks.suite.base import TaskType
from tasks.templates import Template as T
from tasks.templates import inverted as _inverted

_SUBJECTS = ("film", "book", "play", "album", "restaurant", "hotel", "game", "concert",
             "museum", "lecture", "show", "cafe")
_FRAMES = ("The {s} was {a} and {b}.", "What a {a}, {b} {s}.",
           "I found the {s} {a}; honestly it was {b}.", "A {a} {s}, {b} from start to end.",
           "This {s} felt {a} and rather {b}.")
_NEGATED = ("The {s} was not {a} at all, just {b}.",)


def _review(rng: random.Random):
  lexicon = words.by_label("sentiment.tsv")
  label = rng.choice(("positive", "negative"))
  other = "negative" if label == "positive" else "positive"
  subject = rng.choice(_SUBJECTS)
  if rng.random() < 0.2:  # "not <good word>, just <bad word>" keeps the review's label
    frame, a, b = rng.choice(_NEGATED), rng.choice(lexicon[other]), rng.choice(lexicon[label])
  else:
    frame = rng.choice(_FRAMES)
    a, b = rng.sample(lexicon[label], 2)
  return {"review": frame.format(s=subject, a=a, b=b), "subject": subject, "answer": label,
          "options": ["positive", "negative"]}


TASK_TYPES = (
    TaskType("review_sentiment", "sentiment", _review, (
        T("Review: {review}\nIs this review positive or negative?\n{options_}", "{answer}"),
        T("{review}\nHow does the writer feel about the {subject}?\n{options_}", "{answer}"),
        T("What is the sentiment of the following sentence?\n{review}\n{options_}",
          "{answer}"),
        T("Classify the tone of this opinion: \"{review}\"\n{options_}", "{answer}"),
        T("Did the reviewer like it? {review}\n{options_}", "{answer}"),
        _inverted("Write a one-sentence {answer} review of a {subject}.", "{review}"),
        _inverted("Give an example of a {answer} opinion about a {subject}.", "{review}"),
    ), ("review",), split_sizes={"train": 2500, "validation": 100, "test": 100},
             metric="exact_match"),
)
