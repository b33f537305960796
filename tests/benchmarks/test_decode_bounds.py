"""The decode bounds the report holds our figures against, computed by hand on a tiny shape."""
import pytest

from benchmarks import configs
from benchmarks import decode

# One layer, 4 wide, 2 heads of 2 over 1 kv head, MLP 8, vocab 10, tied: per layer the
# matmuls hold 2*4*4 (q, out) + 2*4*2 (k, v) + 3*4*8 (MLP) = 144 weights, the output 40.
TINY = configs.DecoderShape(name="tiny", vocab_size=10, d_model=4, num_heads=2,
                            num_kv_heads=1, head_dim=2, mlp_dim=8, num_layers=1,
                            rope_theta=1e4, tie_embeddings=True)
CASE = configs.DecodeCase(TINY, configs.DecodeBatch(batch_size=2, prompt_length=3,
                                                    new_tokens=4))


def test_bytes_per_step_are_weights_norms_output_and_the_whole_cache():
  # 144 matmul + 8 norm weights, final norm 4, output 40; cache 2 (k, v) x 2 rows x 7 slots x 2.
  assert decode.bytes_per_step(CASE) == (144 + 8 + 4 + 40 + 56) * 4 == 1008


def test_fastest_call_when_steps_are_bandwidth_bound():
  # Prompt: 2 rows x (3 tokens x 144 + 40) x 2 = 1888 FLOPs; a step 2 x 2 x 184 = 736.
  bound = decode.fastest_call(CASE, bandwidth=1008.0, peak_flops=1888.0)
  # 1 s of prompt, then 3 steps of max(1 s reading, 0.39 s computing).
  assert bound["seconds"] == pytest.approx(4.0)
  assert bound["tokens_per_s"] == pytest.approx(8 / 4.0)
  assert bound["step_bound"] == "bandwidth"


def test_fastest_call_when_steps_are_compute_bound():
  bound = decode.fastest_call(CASE, bandwidth=1008.0, peak_flops=368.0)
  assert bound["seconds"] == pytest.approx(1888 / 368 + 3 * 2.0)
  assert bound["step_bound"] == "compute"
