"""Cluster `tool_arithmetic`: word problems over large and decimal numbers (e.g. 9283 *
31231.231), with the exact answer, a chain-of-thought rationale and a PAL program.

Answers are computed in exact decimals. The PAL program computes in floats, as a model's
program would, and rounds to the answer's decimals; an example is kept only if that
rounding gives the exact answer back, so running the program is a right answer.
"""
import dataclasses
import decimal
import operator
import random
from typing import Callable

from tasks.suite.base import TaskType
from tasks.templates import Template as T
from tasks.templates import chain_of_thought as _cot

_OPERATORS: dict[str, Callable] = {"+": operator.add, "-": operator.sub, "*": operator.mul}


@dataclasses.dataclass(frozen=True)
class _Problem:
  """A question over named quantities and the operations, in order, that answer it."""
  question: str
  quantities: tuple[tuple[str, decimal.Decimal], ...]
  steps: tuple[tuple[str, str, str, str], ...]  # (result, left, operator, right)


def _number(rng: random.Random, low: int, high: int, decimals: int) -> decimal.Decimal:
  """A number in [low, high] with exactly `decimals` decimals (the last one not 0)."""
  while True:
    scaled = rng.randint(low * 10 ** decimals, high * 10 ** decimals)
    if decimals == 0 or scaled % 10:
      return decimal.Decimal(scaled).scaleb(-decimals)


def text(value: decimal.Decimal) -> str:
  """Plain decimal notation without trailing zeros: 289919517.373, 4009.25, 1000."""
  return format(value.normalize(), "f")


def _decimals(rng: random.Random) -> int:
  return rng.choice((0, 1, 2, 3))


def _product(rng):
  container, unit = rng.choice((("crate", "kilograms"), ("tanker", "liters"),
                                ("shipment", "dollars"), ("roll", "meters")))
  n, each = _number(rng, 1000, 99999, 0), _number(rng, 100, 99999, _decimals(rng))
  return _Problem(
      f"A depot handles {n} {container}s and each {container} holds {each} {unit}. "
      f"How many {unit} do the {container}s hold in total?",
      ((f"{container}s", n), (f"{unit}_per_{container}", each)),
      ((f"total_{unit}", f"{container}s", "*", f"{unit}_per_{container}"),))


def _sum(rng):
  d = _decimals(rng)
  a, b, c = (_number(rng, 1000, 999999, d) for _ in range(3))
  return _Problem(
      f"A charity received donations of {a}, {b} and {c} dollars. How many dollars did it "
      "receive in total?",
      (("first_donation", a), ("second_donation", b), ("third_donation", c)),
      (("first_two", "first_donation", "+", "second_donation"),
       ("total_dollars", "first_two", "+", "third_donation")))


def _difference(rng):
  d = _decimals(rng)
  held = _number(rng, 100000, 9999999, d)
  drained = _number(rng, 1000, int(held) - 1, d)
  return _Problem(
      f"A reservoir held {held} liters of water and {drained} liters were drained from it. "
      "How many liters are left?",
      (("liters_held", held), ("liters_drained", drained)),
      (("liters_left", "liters_held", "-", "liters_drained"),))


def _two_step(rng):
  tickets, price = _number(rng, 1000, 99999, 0), _number(rng, 10, 999, _decimals(rng))
  fee = _number(rng, 100, 9999, _decimals(rng))
  return _Problem(
      f"A stadium sold {tickets} tickets at {price} dollars each and paid a fee of {fee} "
      "dollars. How many dollars are left after the fee?",
      (("tickets", tickets), ("price_per_ticket", price), ("fee", fee)),
      (("sales", "tickets", "*", "price_per_ticket"), ("dollars_left", "sales", "-", "fee")))


_KINDS = (_product, _sum, _difference, _two_step)


def _solve(problem: _Problem, as_float: bool) -> dict:
  """Every quantity's value: exact decimals, or what Python computes from the program's
  literals (integers stay int, decimals become float)."""
  def literal(value: decimal.Decimal):
    if not as_float:
      return value
    return int(value) if value == value.to_integral() else float(value)
  values = {name: literal(value) for name, value in problem.quantities}
  for result, left, op, right in problem.steps:
    values[result] = _OPERATORS[op](values[left], values[right])
  return values


def _program(problem: _Problem, decimals: int) -> str:
  lines = ["def solution():"]
  lines += [f"    {name} = {text(value)}" for name, value in problem.quantities]
  lines += [f"    {result} = {left} {op} {right}" for result, left, op, right in problem.steps]
  answer = problem.steps[-1][0]
  lines.append(f"    return round({answer}, {decimals})" if decimals else f"    return {answer}")
  return "\n".join(lines)


def _rationale(problem: _Problem, exact: dict) -> str:
  return " ".join(f"{text(exact[left])} {op} {text(exact[right])} = {text(exact[result])}."
                  for result, left, op, right in problem.steps)


def make_example(rng: random.Random) -> dict:
  while True:
    problem = rng.choice(_KINDS)(rng)
    exact = _solve(problem, as_float=False)
    answer = exact[problem.steps[-1][0]]
    has_decimals = any(v != v.to_integral() for _, v in problem.quantities)
    decimals = max(0, -answer.normalize().as_tuple().exponent)
    if has_decimals and not decimals:
      continue  # the program's float would print as "10.0", not "10"
    computed = _solve(problem, as_float=True)[problem.steps[-1][0]]
    if repr(round(computed, decimals) if decimals else computed) != text(answer):
      continue  # float rounding would not give the exact answer back
    return {"question": problem.question, "answer": text(answer),
            "rationale": _rationale(problem, exact), "program": _program(problem, decimals),
            "expression": _expression(problem)}


def _expression(problem: _Problem) -> str:
  """The calculation as one arithmetic expression over the numbers, e.g. 120 * 35.5 - 250."""
  spelled = {name: text(value) for name, value in problem.quantities}
  for result, left, op, right in problem.steps:
    spelled[result] = f"{spelled[left]} {op} {spelled[right]}"
  return spelled[problem.steps[-1][0]]


DIRECT_TEMPLATES = (
    T("{question}", "{answer}"),
    T("Solve the problem and give only the exact number.\n{question}", "{answer}"),
    T("Question: {question}\nAnswer:", "{answer}"),
    _cot("{question}\nWork it out step by step."),
    _cot("Question: {question}\nLet us reason before answering."),
)
PAL_TEMPLATES = (
    T("Write a Python function solution() that returns the answer.\n{question}", "{program}"),
    T("Question: {question}\nAnswer with a Python program whose solution() returns the "
      "exact number.", "{program}"),
)

TASK = TaskType("large_arithmetic", "tool_arithmetic", make_example, DIRECT_TEMPLATES,
                ("question",), split_sizes={"train": 3000, "validation": 100, "test": 100})
PAL_TASK = dataclasses.replace(TASK, templates=PAL_TEMPLATES)
