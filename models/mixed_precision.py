"""Matmuls in the compute dtype with fp32 accumulation, forward and backward.

`lax.dot_general(a_bf16, b_bf16, preferred_element_type=f32)` is the fast bf16 matmul, but
its automatic transpose pairs the fp32 cotangent with a bf16 operand: both backward matmuls
(two thirds of a train step's matmul FLOPs) then run in fp32 after upcasting the operand.
`dot_general` here gives the backward pass the cotangent in the compute dtype, so all three
matmuls are bf16 x bf16 with fp32 accumulation, as PyTorch's autocast does. Its backward
also lays out each weight gradient's operands the way XLA:CPU's fast matmuls read them,
which speeds up the fp32 step too, so every dtype takes it.
"""
import functools

import jax
import jax.numpy as jnp
from jax import lax


def dot_general(lhs, rhs, dimension_numbers, dtype):
  """lax.dot_general of lhs and rhs cast to `dtype`, accumulated and returned in fp32."""
  return _dot_general(lhs.astype(dtype), rhs.astype(dtype), _as_tuples(dimension_numbers))


def _as_tuples(dimension_numbers):
  (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
  return ((tuple(lhs_contract), tuple(rhs_contract)), (tuple(lhs_batch), tuple(rhs_batch)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _dot_general(lhs, rhs, dimension_numbers):
  return lax.dot_general(lhs, rhs, dimension_numbers, preferred_element_type=jnp.float32)


def _forward(lhs, rhs, dimension_numbers):
  return _dot_general(lhs, rhs, dimension_numbers), (lhs, rhs)


def _backward(dimension_numbers, residuals, cotangent):
  lhs, rhs = residuals
  cotangent = cotangent.astype(lhs.dtype)
  return (_lhs_cotangent(cotangent, lhs.ndim, rhs, dimension_numbers).astype(lhs.dtype),
          _rhs_cotangent(cotangent, lhs, rhs.ndim, dimension_numbers).astype(rhs.dtype))


def _free_axes(ndim, contract, batch):
  return [i for i in range(ndim) if i not in contract + batch]


def _argsort(order):
  return tuple(sorted(range(len(order)), key=order.__getitem__))


def _lhs_cotangent(cotangent, lhs_ndim, rhs, dimension_numbers):
  """The cotangent [batch, lhs free, rhs free] times rhs over rhs's free axes; the
  cotangent's contracted axes are already its last ones."""
  (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
  lhs_free = _free_axes(lhs_ndim, lhs_contract, lhs_batch)
  rhs_free = _free_axes(rhs.ndim, rhs_contract, rhs_batch)
  first = len(lhs_batch) + len(lhs_free)
  product = lax.dot_general(
      cotangent, rhs, ((tuple(range(first, first + len(rhs_free))), tuple(rhs_free)),
                       (tuple(range(len(lhs_batch))), rhs_batch)),
      preferred_element_type=jnp.float32)
  # product's axes: batch, lhs free, then lhs's contracted axes in rhs's order.
  contract_in_rhs_order = [c for _, c in sorted(zip(rhs_contract, lhs_contract))]
  return lax.transpose(product, _argsort(list(lhs_batch) + lhs_free + contract_in_rhs_order))


def _rhs_cotangent(cotangent, lhs, rhs_ndim, dimension_numbers):
  """lhs times the cotangent over lhs's free axes (the tokens, for a weight's gradient).
  lhs goes first with those axes moved last: XLA:CPU runs a bf16 matmul on its fast path
  only when the left operand contracts its last axes, and would otherwise fold a plain
  transpose back into the dot, so the moved copy sits behind an optimization barrier.
  """
  (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
  lhs_free = _free_axes(lhs.ndim, lhs_contract, lhs_batch)
  rhs_free = _free_axes(rhs_ndim, rhs_contract, rhs_batch)
  order = list(lhs_batch) + list(lhs_contract) + lhs_free
  if order != sorted(order):
    lhs = lax.optimization_barrier(lax.transpose(lhs, tuple(order)))
  batch = tuple(range(len(lhs_batch)))
  first = len(lhs_batch) + len(lhs_contract)
  product = lax.dot_general(
      lhs, cotangent, ((tuple(range(first, lhs.ndim)),
                        tuple(range(len(lhs_batch), len(lhs_batch) + len(lhs_free)))),
                       (batch, batch)),
      preferred_element_type=jnp.float32)
  # product's axes: batch, rhs's contracted axes (paired with lhs's, in that order), rhs free.
  # The barrier keeps XLA from folding this transpose into the dot by swapping its operands.
  order = list(rhs_batch) + list(rhs_contract) + rhs_free
  if order == sorted(order):
    return product
  return lax.transpose(lax.optimization_barrier(product), _argsort(order))


_dot_general.defvjp(_forward, _backward)
