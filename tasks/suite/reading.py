"""Cluster `reading_comprehension`: questions answered by a span of a short passage."""
import random

from tasks.suite import words
from tasks.suite.base import TaskType
from tasks.templates import Template as T
from tasks.templates import inverted as _inverted

_JOBS = ("baker", "nurse", "pilot", "teacher", "farmer", "painter", "doctor", "driver")
_PETS = ("dog", "cat", "rabbit", "horse", "goat", "sheep")


def _passage(rng: random.Random):
  people = rng.sample(words.lines("names.txt"), 3)
  cities = rng.sample(words.lines("places.txt"), 3)
  facts = []
  for person, city in zip(people, cities):
    job, pet, n = rng.choice(_JOBS), rng.choice(_PETS), rng.randint(1, 9)
    facts.append({"person": person, "city": city, "job": job, "pet": pet, "n": n})
  text = " ".join(f"{f['person']} is a {f['job']} in {f['city']} and keeps {f['n']} "
                  f"{f['pet']}{'s' if f['n'] > 1 else ''}." for f in facts)
  return text, rng.choice(facts)


def _where(rng: random.Random):
  passage, fact = _passage(rng)
  return {"passage": passage, "person": fact["person"], "answer": fact["city"],
          "question": f"Where does {fact['person']} work?"}


def _how_many(rng: random.Random):
  passage, fact = _passage(rng)
  return {"passage": passage, "person": fact["person"], "pet": fact["pet"],
          "answer": str(fact["n"]),
          "question": f"How many {fact['pet']}s does {fact['person']} keep?"}


def _who(rng: random.Random):
  passage, fact = _passage(rng)
  return {"passage": passage, "job": fact["job"], "city": fact["city"],
          "answer": fact["person"], "question": f"Who is the {fact['job']} in {fact['city']}?"}


def _templates(*specific):
  return (
      T("{passage}\n\nQuestion: {question}", "{answer}"),
      T("Read the text and answer.\n{passage}\n{question}", "{answer}"),
      T("Context: {passage}\nQ: {question}\nA:", "{answer}"),
      T("Answer with a word from the passage.\nPassage: {passage}\n{question}", "{answer}"),
  ) + specific


TASK_TYPES = (
    TaskType("passage_where", "reading_comprehension", _where, _templates(
        T("{passage}\nIn which city does {person} work?", "{answer}"),
        _inverted("{passage}\nWrite a question about this passage whose answer is "
                  "{answer}.", "{question}")), ("passage", "question"),
             split_sizes={"train": 2000, "validation": 100, "test": 100}),
    TaskType("passage_count", "reading_comprehension", _how_many, _templates(
        T("{passage}\nGive the number of {pet}s that {person} has.", "{answer}"),
        _inverted("{passage}\nAsk a question about this passage that has the answer "
                  "{answer}.", "{question}")), ("passage", "question"),
             split_sizes={"train": 2000, "validation": 100, "test": 100}),
    TaskType("passage_who", "reading_comprehension", _who, _templates(
        T("{passage}\nName the {job} who works in {city}.", "{answer}"),
        _inverted("{passage}\nWrite a question whose answer is the name {answer}.",
                  "{question}")), ("passage", "question"),
             split_sizes={"train": 2000, "validation": 100, "test": 100}),
)
