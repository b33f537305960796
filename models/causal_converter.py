"""A decoder feature converter for causal language models fine-tuned on (inputs, targets).

seqio's DecoderFeatureConverter turns such tasks into prefix-LM batches whose
`decoder_causal_attention` makes our DecoderOnly attend both ways inside the inputs. A
checkpoint pretrained causally (Llama, SmolLM2) has never seen that, and our cached
decoding serves it causally; this converter drops the feature, keeping everything else
(packing, loss on targets only, the shift behind id 0, the loss mask of
models/loss_masked_converter.py).
"""
import gin
import seqio

from models.loss_masked_converter import LossMasked


@gin.configurable(module="models")
class CausalDecoderFeatureConverter(LossMasked, seqio.DecoderFeatureConverter):

  def __call__(self, ds, task_feature_lengths):
    converted = super().__call__(ds, task_feature_lengths)
    return converted.map(
        lambda ex: {k: v for k, v in ex.items() if k != "decoder_causal_attention"})
