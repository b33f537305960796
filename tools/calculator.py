"""Arithmetic for the calculator tool, read with `ast` and computed exactly, never `eval`.

Numbers are exact fractions (a decimal literal is the decimal it spells, so 0.1 + 0.2 is 0.3
and 9283 * 31231.231 is 289919517.373); square roots and fractional powers leave the exact
world as floats. Only numbers, + - * / // % **, parentheses and a few named functions are
read; anything else (names, attributes, strings, comparisons) is refused with the reason.
"""
import ast
import fractions
import math
import operator

MAX_EXPRESSION_CHARS = 500
# Past this many bits a power is refused before it is computed (10**1000 has ~3,300).
_MAX_POWER_BITS = 4096
_SIGNIFICANT_DIGITS = 15

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS = {"abs": abs, "min": min, "max": max, "round": round,
              "sqrt": math.sqrt}
_CONSTANTS = {"pi": math.pi, "e": math.e}


def calculate(expression: str) -> str:
  """The value of an arithmetic expression as text; ValueError naming what is wrong."""
  if len(expression) > MAX_EXPRESSION_CHARS:
    raise ValueError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
  try:
    tree = ast.parse(expression.strip(), mode="eval")
  except SyntaxError as error:
    raise ValueError(f"not an arithmetic expression: {error.msg}") from None
  try:
    return _format(_evaluate(tree.body))
  except ZeroDivisionError:
    raise ValueError("division by zero") from None
  except OverflowError as error:
    raise ValueError(f"result too large: {error}") from None


def _evaluate(node):
  if isinstance(node, ast.Constant) and type(node.value) in (int, float):
    return fractions.Fraction(repr(node.value))
  if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
    return _power(_evaluate(node.left), _evaluate(node.right))
  if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
    return _BINARY[type(node.op)](_evaluate(node.left), _evaluate(node.right))
  if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
    return _UNARY[type(node.op)](_evaluate(node.operand))
  if isinstance(node, ast.Name) and node.id in _CONSTANTS:
    return _CONSTANTS[node.id]
  if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
      and node.func.id in _FUNCTIONS and not node.keywords and node.args):
    return _FUNCTIONS[node.func.id](*map(_evaluate, node.args))
  raise ValueError(f"unsupported in arithmetic: {ast.unparse(node)!r} (numbers, + - * / // % **, "
                   f"parentheses, {', '.join(_FUNCTIONS)}, {', '.join(_CONSTANTS)})")


def _power(base, exponent):
  exact = isinstance(base, fractions.Fraction) and isinstance(exponent, fractions.Fraction)
  if not (exact and exponent.denominator == 1):
    value = float(base) ** float(exponent)
    if isinstance(value, complex):
      raise ValueError("a negative number to a fractional power is not a real number")
    return value
  size = max(abs(base.numerator).bit_length(), base.denominator.bit_length())
  if size * abs(exponent.numerator) > _MAX_POWER_BITS:
    raise ValueError(f"power too large (over {_MAX_POWER_BITS} bits)")
  return base ** exponent.numerator


def _format(value) -> str:
  """An integer as such, a terminating decimal exactly, anything else to 15 significant digits."""
  if isinstance(value, float):
    return repr(value)
  if value.denominator == 1:
    return str(value.numerator)
  denominator = value.denominator
  twos_and_fives = 0
  for prime in (2, 5):
    while denominator % prime == 0:
      denominator //= prime
      twos_and_fives += 1
  if denominator == 1:  # terminates after at most twos_and_fives decimals
    digits = twos_and_fives
    scaled = value.numerator * 10 ** digits // value.denominator
    text = f"{abs(scaled) // 10 ** digits}.{abs(scaled) % 10 ** digits:0{digits}d}".rstrip("0")
    return ("-" if scaled < 0 else "") + text
  return f"{float(value):.{_SIGNIFICANT_DIGITS}g}"
