"""The profile of a real step names the model code its time went to."""
from benchmarks import profile_step
from tests.benchmarks.test_train_sides import MICRO


def test_op_names_fold_layers_and_drop_the_jit_prefix():
  hlo = ('  %fusion.3 = f32[4,8]{1,0} fusion(%p), kind=kLoop, metadata={op_name='
         '"jit(sft_step)/jvp(DecoderOnly)/layers/layers_12/mlp/wi_0/dot_general"}\n'
         '  %copy.1 = f32[4]{0} copy(%p)\n')
  assert profile_step.op_names(hlo) == {
      "fusion.3": "jvp(DecoderOnly)/layers/layers_N/mlp/wi_0/dot_general"}


def test_a_traced_step_is_attributed_to_its_layers(tmp_path):
  rows = profile_step.profile(MICRO, steps=1, trace_dir=str(tmp_path))
  by_op = {op: (seconds, count) for op, seconds, count in rows}
  forward_mlp = [op for op in by_op if op.startswith("jvp(") and "layers_N/mlp/wi_0/dot" in op]
  assert forward_mlp, sorted(by_op)[:20]
  seconds, count = by_op[forward_mlp[0]]
  assert seconds > 0 and count == MICRO.shape.num_layers  # one per layer, folded together
  assert not any("layers_0" in op for op in by_op)
