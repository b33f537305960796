"""The calculator tool: exact arithmetic, and refusals that name the problem."""
import pytest

from tools.calculator import calculate


@pytest.mark.parametrize("expression,value", [
    ("9283 * 31231.231", "289919517.373"),
    ("0.1 + 0.2", "0.3"),
    ("2 ** 100", str(2 ** 100)),
    ("(1 + 2) * 3 - 4 // 3", "8"),
    ("6 / 3", "2"),
    ("-7 / 4", "-1.75"),
    ("1 / 3", "0.333333333333333"),
    ("2 ** -2", "0.25"),
    ("10 % 3", "1"),
    ("1e-3 * 3", "0.003"),
    ("round(2.567, 2)", "2.57"),
    ("max(3, 4.5) + abs(-1)", "5.5"),
    ("sqrt(2)", "1.4142135623730951"),
    ("2 * pi", "6.283185307179586"),
])
def test_values(expression, value):
  assert calculate(expression) == value


@pytest.mark.parametrize("expression,problem", [
    ("__import__('os').system('id')", "unsupported"),
    ("open('/etc/passwd')", "unsupported"),
    ("(1).__class__", "unsupported"),
    ("x + 1", "unsupported"),
    ("'a' * 3", "unsupported"),
    ("1 < 2", "unsupported"),
    ("9 ** 9 ** 9", "power too large"),
    ("1 / 0", "division by zero"),
    ("(-8) ** 0.5", "not a real number"),
    ("2 +", "not an arithmetic expression"),
    ("1" * 600, "longer than"),
])
def test_refusals(expression, problem):
  with pytest.raises(ValueError, match=problem):
    calculate(expression)
