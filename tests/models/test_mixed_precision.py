"""mixed_precision.dot_general: its hand-written backward equals JAX's own transpose of
dot_general for every layout the models use, and in bf16 every matmul of the backward pass
takes bf16 operands."""
import flax.linen as nn
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from models import mixed_precision
from tests.model_configs import TINY_LLAMA, TINY_T5, model_for, random_batch

# (lhs shape, rhs shape, dimension numbers): a projection, a two-axis contraction (heads x
# head_dim into embed), the tied-embedding logits, both attention products, and contracted
# axes listed out of order.
LAYOUTS = [
    ((2, 5, 6), (6, 3, 4), (((2,), (0,)), ((), ()))),
    ((2, 5, 3, 4), (3, 4, 6), (((2, 3), (0, 1)), ((), ()))),
    ((2, 5, 6), (7, 6), (((2,), (1,)), ((), ()))),
    ((2, 3, 5, 4), (2, 7, 3, 4), (((3,), (3,)), ((0, 1), (0, 2)))),
    ((2, 3, 5, 7), (2, 7, 3, 4), (((3,), (1,)), ((0, 1), (0, 2)))),
    ((4, 2, 3), (3, 5, 4), (((2, 0), (0, 2)), ((), ()))),
]


def grads(dot, lhs, rhs, weights):
  return jax.grad(lambda a, b: jnp.sum(dot(a, b) * weights), argnums=(0, 1))(lhs, rhs)


@pytest.mark.parametrize("lhs_shape,rhs_shape,dims", LAYOUTS)
def test_backward_equals_jax_transpose(lhs_shape, rhs_shape, dims):
  rng = np.random.default_rng(0)
  lhs = jnp.asarray(rng.normal(size=lhs_shape), jnp.float32)
  rhs = jnp.asarray(rng.normal(size=rhs_shape), jnp.float32)
  out_shape = jax.eval_shape(lambda a, b: lax.dot_general(a, b, dims), lhs, rhs).shape
  weights = jnp.asarray(rng.normal(size=out_shape), jnp.float32)
  want = grads(lambda a, b: lax.dot_general(a, b, dims), lhs, rhs, weights)
  # fp32 operands: only the transposes differ from JAX's.
  got = grads(lambda a, b: mixed_precision._dot_general(a, b, dims), lhs, rhs,
              weights)
  for g, w in zip(got, want):
    assert g.shape == w.shape
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def dot_operand_dtypes(fn, *args):
  jaxpr = jax.make_jaxpr(fn)(*args)
  dtypes = []

  def visit(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == "dot_general":
        dtypes.append(tuple(str(v.aval.dtype) for v in eqn.invars))
      for sub in jax.extend.core.jaxprs_in_params(eqn.params):
        visit(sub)

  visit(jaxpr.jaxpr)
  return dtypes


def test_bf16_backward_matmuls_take_bf16_operands_and_accumulate_in_fp32():
  rng = np.random.default_rng(1)
  lhs = jnp.asarray(rng.normal(size=(4, 8)), jnp.float32)
  rhs = jnp.asarray(rng.normal(size=(8, 3)), jnp.float32)
  dims = (((1,), (0,)), ((), ()))
  dot = lambda a, b: mixed_precision.dot_general(a, b, dims, jnp.bfloat16)
  assert dot(lhs, rhs).dtype == jnp.float32
  loss = lambda a, b: jnp.sum(dot(a, b) ** 2)
  operand_dtypes = dot_operand_dtypes(jax.grad(loss, argnums=(0, 1)), lhs, rhs)
  assert len(operand_dtypes) == 3  # forward, and one for each operand's cotangent
  assert set(operand_dtypes) == {("bfloat16", "bfloat16")}
  # Gradients come back in the operands' own dtype and near the fp32 ones.
  got = jax.grad(loss, argnums=(0, 1))(lhs, rhs)
  want = jax.grad(lambda a, b: jnp.sum((a @ b) ** 2), argnums=(0, 1))(lhs, rhs)
  for g, w in zip(got, want):
    assert g.dtype == jnp.float32
    np.testing.assert_allclose(g, w, rtol=5e-2, atol=5e-2 * float(jnp.abs(w).max()))


@pytest.mark.parametrize("config", [TINY_T5, TINY_LLAMA], ids=["t5", "llama"])
def test_bf16_train_gradients_run_every_matmul_in_bf16_and_match_fp32(config):
  """The whole model's backward pass: no matmul is left in fp32 (before this module, two of
  every three were), and the gradients stay near the fp32 ones."""
  batch = random_batch(config)
  loss_fns = {}
  for dtype in (jnp.float32, jnp.bfloat16):
    model = model_for(config, dtype=dtype, pack=False, num_decoder_layers=1,
                      num_encoder_layers=config.num_encoder_layers and 1)
    loss_fns[dtype] = lambda p, model=model: model.loss_sums(p, batch)["loss_sum"]
  params = nn.unbox(jax.jit(model.module.init)(jax.random.key(0), model.init_batch())["params"])
  operand_dtypes = dot_operand_dtypes(jax.grad(loss_fns[jnp.bfloat16]), params)
  assert operand_dtypes and set(operand_dtypes) == {("bfloat16", "bfloat16")}
  want = jax.jit(jax.grad(loss_fns[jnp.float32]))(params)
  got = jax.jit(jax.grad(loss_fns[jnp.bfloat16]))(params)
  assert {g.dtype for g in jax.tree.leaves(got)} == {jnp.dtype(jnp.float32)}
  flat_got = jnp.concatenate([g.ravel() for g in jax.tree.leaves(got)])
  flat_want = jnp.concatenate([g.ravel() for g in jax.tree.leaves(want)])
  cosine = jnp.dot(flat_got, flat_want) / jnp.linalg.norm(flat_got) / jnp.linalg.norm(flat_want)
  assert cosine > 0.99
