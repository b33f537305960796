"""Cluster `arithmetic`: sums, differences, products and two-step word problems."""
import random

from tasks.suite import words
from tasks.suite.base import TaskType
from tasks.templates import Template as T
from tasks.templates import chain_of_thought as _cot
from tasks.templates import inverted as _inverted


def _two_numbers(rng, low, high):
  return rng.randint(low, high), rng.randint(low, high)


def _addition(rng: random.Random):
  a, b = _two_numbers(rng, 0, 999)
  return {"a": a, "b": b, "answer": str(a + b)}


def _subtraction(rng: random.Random):
  a, b = sorted(_two_numbers(rng, 0, 999), reverse=True)
  return {"a": a, "b": b, "answer": str(a - b)}


def _multiplication(rng: random.Random):
  a, b = rng.randint(2, 30), rng.randint(2, 30)
  return {"a": a, "b": b, "answer": str(a * b)}


_ITEMS = ("apple", "marble", "pencil", "stamp", "sticker", "coin", "card", "shell")


def _word_problem(rng: random.Random):
  name, item = rng.choice(words.lines("names.txt")), rng.choice(_ITEMS)
  a, bags, per_bag = rng.randint(1, 40), rng.randint(2, 9), rng.randint(2, 12)
  gives = rng.randint(0, a)
  question = (f"{name} has {a} {item}s, buys {bags} bags with {per_bag} {item}s in each, "
              f"and then gives away {gives}. How many {item}s does {name} have now?")
  bought = bags * per_bag
  answer = a + bought - gives
  rationale = (f"{bags} bags of {per_bag} hold {bags} * {per_bag} = {bought} {item}s. "
               f"{a} + {bought} = {a + bought}. Giving away {gives} leaves "
               f"{a + bought} - {gives} = {answer}.")
  return {"question": question, "item": item, "answer": str(answer), "rationale": rationale,
          "expression": f"{a} + {bags} * {per_bag} - {gives}"}


TASK_TYPES = (
    TaskType("addition", "arithmetic", _addition, (
        T("What is {a} plus {b}?", "{answer}"),
        T("Add {a} and {b}. Reply with the number only.", "{answer}"),
        T("{a} + {b} =", "{answer}"),
        T("Compute the sum of {a} and {b}.", "{answer}"),
        T("If you put {a} things together with {b} more, how many do you have?", "{answer}"),
        _inverted("Write an addition whose result is {answer}.", "{a} + {b}"),
    ), ("a", "b"), split_sizes={"train": 5000, "validation": 100, "test": 100}),
    TaskType("subtraction", "arithmetic", _subtraction, (
        T("What is {a} minus {b}?", "{answer}"),
        T("Subtract {b} from {a}.", "{answer}"),
        T("{a} - {b} =", "{answer}"),
        T("How much is left when you take {b} away from {a}?", "{answer}"),
        T("Find the difference between {a} and {b}.", "{answer}"),
        _inverted("Give a subtraction that equals {answer}.", "{a} - {b}"),
    ), ("a", "b"), split_sizes={"train": 5000, "validation": 100, "test": 100}),
    TaskType("multiplication", "arithmetic", _multiplication, (
        T("What is {a} times {b}?", "{answer}"),
        T("Multiply {a} by {b}.", "{answer}"),
        T("{a} * {b} =", "{answer}"),
        T("A box holds {b} rows of {a}. How many items fit in it?", "{answer}"),
        T("Calculate the product of {a} and {b}.", "{answer}"),
        _inverted("Name two whole numbers whose product is {answer}.", "{a} and {b}"),
    ), ("a", "b"), split_sizes={"train": 700, "validation": 50, "test": 50}),
    TaskType("word_problem", "arithmetic", _word_problem, (
        T("{question}", "{answer}"),
        T("Solve this problem and give just the number.\n{question}", "{answer}"),
        _cot("{question}\nWork it out step by step."),
        _cot("Question: {question}\nLet us reason before answering."),
        _cot("Solve, showing each step:\n{question}"),
        _inverted("A count of {item}s came out as {answer}. Write a calculation with a "
                  "product in it that gives this.", "{expression}"),
    ), ("question",), split_sizes={"train": 3000, "validation": 100, "test": 100}),
)
