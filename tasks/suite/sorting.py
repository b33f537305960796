"""Cluster `sorting`: putting numbers and words in order, picking extremes, reversing lists."""
import random

from tasks.suite import words
from tasks.suite.base import TaskType
from tasks.templates import Template as T
from tasks.templates import chain_of_thought as _cot
from tasks.templates import inverted as _inverted


def _numbers(rng, n_low=4, n_high=7):
  return rng.sample(range(0, 100), rng.randint(n_low, n_high))


def _sort_numbers(rng: random.Random):
  numbers = _numbers(rng)
  ordered = sorted(numbers)
  steps = " ".join(f"The smallest left is {n}." for n in ordered)
  return {"numbers": ", ".join(map(str, numbers)), "answer": ", ".join(map(str, ordered)),
          "rationale": steps}


def _sort_words(rng: random.Random):
  vocabulary = [w for w, _ in words.pairs("categories.tsv")]
  chosen = rng.sample(vocabulary, rng.randint(3, 6))
  return {"words": ", ".join(chosen), "answer": ", ".join(sorted(chosen))}


def _largest(rng: random.Random):
  numbers = _numbers(rng, 3, 6)
  shuffled = [str(n) for n in numbers]
  return {"numbers": ", ".join(shuffled), "answer": str(max(numbers)),
          "options": shuffled, "smallest": str(min(numbers))}


def _reverse_list(rng: random.Random):
  vocabulary = [w for w, _ in words.pairs("categories.tsv")]
  chosen = rng.sample(vocabulary, rng.randint(3, 6))
  return {"items": ", ".join(chosen), "answer": ", ".join(reversed(chosen))}


TASK_TYPES = (
    TaskType("sort_numbers", "sorting", _sort_numbers, (
        T("Sort these numbers from smallest to largest: {numbers}", "{answer}"),
        T("Put in ascending order: {numbers}", "{answer}"),
        T("Numbers: {numbers}\nList them in increasing order.", "{answer}"),
        _cot("Arrange {numbers} from low to high. Go one number at a time."),
        T("Rewrite the list {numbers} so that each number is bigger than the one before.",
          "{answer}"),
        _inverted("Here is a sorted list: {answer}. Give the same numbers in a mixed order.",
                  "{numbers}"),
    ), ("numbers",), split_sizes={"train": 3000, "validation": 100, "test": 100}),
    TaskType("sort_words", "sorting", _sort_words, (
        T("Sort alphabetically: {words}", "{answer}"),
        T("Put these words in dictionary order: {words}", "{answer}"),
        T("Words: {words}\nWhat is their alphabetical order?", "{answer}"),
        T("Order the following from A to Z: {words}", "{answer}"),
        T("Arrange {words} as they would appear in a dictionary.", "{answer}"),
        _inverted("Shuffle this alphabetical list: {answer}", "{words}"),
    ), ("words",), split_sizes={"train": 3000, "validation": 100, "test": 100}),
    TaskType("largest_number", "sorting", _largest, (
        T("Which number is the largest? {numbers}\n{options_}", "{answer}"),
        T("Pick the biggest value among {numbers}.\n{options_}", "{answer}"),
        T("Numbers: {numbers}\nWhat is the maximum?\n{options_}", "{answer}"),
        T("Of {numbers}, which one is greatest?\n{options_}", "{answer}"),
        T("Find the highest number in this list: {numbers}\n{options_}", "{answer}"),
        _inverted("Write a list of numbers whose largest member is {answer} and whose "
                  "smallest is {smallest}.", "{numbers}"),
    ), ("numbers",), split_sizes={"train": 2000, "validation": 100, "test": 100}),
    TaskType("reverse_list", "sorting", _reverse_list, (
        T("Reverse the order of this list: {items}", "{answer}"),
        T("Write these items from last to first: {items}", "{answer}"),
        T("List: {items}\nGive it backwards.", "{answer}"),
        T("Read {items} starting from the end.", "{answer}"),
        T("Flip the order: {items}", "{answer}"),
        _inverted("A list read backwards is {answer}. What was the original list?",
                  "{items}"),
    ), ("items",), split_sizes={"train": 2000, "validation": 100, "test": 100}),
)
