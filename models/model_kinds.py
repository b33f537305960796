"""The two model kinds, each the one owner of everything that depends on it.

A kind decides the batch layout of its network, the feature converters that build those
batches for training and for evaluation, the loss, decoding and scoring, and how an RLHF
prompt + response pair is laid out. Training, evaluation, rank classification, comparison
sampling and PPO all ask the kind; nothing outside this file, the networks and the
checkpoint mapping asks whether a model has an encoder.

A decoder-only model is either a causal LM or a prefix-LM (bidirectional over its inputs),
chosen once in gin (`DecoderOnlyModel.prefix_lm`): it is then trained, decoded and scored
under the same attention mask.
"""
import abc
import copy
import functools

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
import numpy as np
import seqio

from models import beam_search as beam_search_lib
from models import decoding, scoring
from models import flops as flops_lib
from models.causal_converter import CausalDecoderFeatureConverter
from models.config import ModelConfig
from models import decoder as decoder_lib
from models.decoder_only import DecoderOnly
from models.encoder_decoder import EncoderDecoder
from models import losses
from models.peft import param_trees
from models.peft.method import PeftMethod
from models.peft.peft_module import PeftModule
from models.reward_model import ScalarHeadModel, WithTrainedHead


class ModelKind(abc.ABC):
  """A network with the conventions of its kind. `module` is the Flax language model,
  with the parameter-efficient method `peft` (models.peft) applied when one is given.

  The loss reads the whole [b, t, vocab] fp32 logits unless a chunk size is set; then it
  is computed from the final hidden states in chunks of logits, each recomputed in the
  backward pass instead of stored (same values, one more output projection):
  loss_chunk_size: positions per chunk (must divide the loss's sequence length);
    at most [b, loss_chunk_size, vocab] logits at once.
  loss_vocab_chunk_size: vocabulary entries per chunk (must divide the vocabulary);
    at most [b, t, loss_vocab_chunk_size] logits at once. Both: [b, chunk, vocab chunk].
  """

  def __init__(self, config: ModelConfig, pack: bool = True,
               loss_chunk_size: int | None = None, loss_vocab_chunk_size: int | None = None,
               peft: PeftMethod | None = None):
    for name, size in (("loss_chunk_size", loss_chunk_size),
                       ("loss_vocab_chunk_size", loss_vocab_chunk_size)):
      if size is not None and (not isinstance(size, int) or size < 1):
        raise ValueError(f"{type(self).__name__}.{name}={size!r}: expected a positive "
                         "whole number, or None for no chunking")
    if loss_vocab_chunk_size is not None:
      losses.check_chunk_size(loss_vocab_chunk_size, config.vocab_size, "vocabulary")
    self.config = config
    self.pack = pack
    self.loss_chunk_size = loss_chunk_size
    self.loss_vocab_chunk_size = loss_vocab_chunk_size
    self.peft = peft
    network = self._network(config)
    self.module = network if peft is None else PeftModule(network, peft, self.init_batch())

  def __repr__(self):
    return f"{type(self).__name__}({self.config}{self._options_repr()})"

  def _options_repr(self) -> str:
    return "".join(f", {name}={getattr(self, name)}"
                   for name in ("loss_chunk_size", "loss_vocab_chunk_size", "peft")
                   if getattr(self, name) is not None)

  # ---- which parameters train

  def split_params(self, params) -> tuple[dict, dict]:
    """(frozen, trainable) parts of a parameter tree: without a PEFT method nothing is
    frozen; with one, the base network's weights are (see models.peft)."""
    if self.peft is None:
      return {}, params
    return self.module.split(params)

  @staticmethod
  def join_params(frozen, trainable) -> dict:
    """The inverse of `split_params` (free under jit)."""
    return param_trees.join(frozen, trainable) if frozen else trainable

  def base_params(self, params) -> dict:
    """The network's own leaves of a tree (what a base checkpoint holds)."""
    return params if self.peft is None else self.module.base_part(params)

  def merged_params(self, params) -> dict:
    """The base network's tree with the method folded in (LoRA, (IA)^3), for export."""
    return params if self.peft is None else self.module.merged(params)

  def without_peft(self) -> "ModelKind":
    """The same kind running the bare network: the model with its method switched off
    (an RLHF reference policy reads the base weights through it); itself without one."""
    if self.peft is None:
      return self
    bare = copy.copy(self)
    bare.peft, bare.module = None, self.module.network
    return bare

  @abc.abstractmethod
  def _network(self, config: ModelConfig) -> nn.Module:
    ...

  # ---- data

  @abc.abstractmethod
  def feature_converter(self, pack: bool) -> seqio.FeatureConverter:
    ...

  def data_feature_lengths(self, task_feature_lengths: dict) -> dict:
    """The task feature lengths to build batches with: a method that adds input positions
    (a soft prompt) takes them from the inputs' length, so prompt + input fit in it."""
    extra = 0 if self.peft is None else self.peft.extra_positions
    if not extra:
      return task_feature_lengths
    inputs = task_feature_lengths["inputs"]
    if extra >= inputs:
      raise ValueError(
          f"{self.peft!r}: a prompt of {extra} positions leaves no room for the input in the "
          f"configured input length TASK_FEATURE_LENGTHS['inputs'] = {inputs} (prompt + "
          f"input must fit in it): shorten the prompt to at most {inputs - 1} positions or "
          f"lengthen the inputs")
    return dict(task_feature_lengths, inputs=inputs - extra)

  def train_feature_converter(self) -> seqio.FeatureConverter:
    return self.feature_converter(self.pack)

  def eval_feature_converter(self) -> seqio.FeatureConverter:
    """Unpacked: one example per row, so a row's prompt is its own."""
    return self.feature_converter(False)

  @abc.abstractmethod
  def init_batch(self, batch_size: int = 1, inputs_length: int = 4,
                 targets_length: int = 4) -> dict:
    """Zeros shaped like a training batch: enough for `module.init` (parameter shapes do
    not depend on the lengths)."""

  # ---- the loss

  def loss_sums(self, params, batch, *, dropout_rng=None, z_loss: float = 0.0,
                label_smoothing: float = 0.0) -> dict:
    """Weighted cross-entropy sums over the batch's target tokens (see models.losses)."""
    dropout = ({} if dropout_rng is None
               else {"enable_dropout": True, "rngs": {"dropout": dropout_rng}})
    apply = functools.partial(self.module.apply, {"params": params}, batch, **dropout)
    targets, weights = batch["decoder_target_tokens"], batch["decoder_loss_weights"]
    options = {"z_loss": z_loss, "label_smoothing": label_smoothing}
    if self.loss_chunk_size is None and self.loss_vocab_chunk_size is None:
      return losses.cross_entropy_sums(apply(), targets, weights, **options)
    with nn.intercept_methods(decoder_lib.hidden_instead_of_logits):
      hidden = apply()
    sums_fn = self._hidden_loss_sums(params, options)
    if self.loss_chunk_size is None:
      return sums_fn(hidden, targets, weights)
    return losses.position_chunked_sums(sums_fn, hidden, targets, weights,
                                        chunk_size=self.loss_chunk_size)

  def _hidden_loss_sums(self, params, options):
    """(hidden [b, t, embed], targets, weights) -> the loss sums, over the whole
    vocabulary or a slice of it at a time."""
    cfg = self.config
    if self.loss_vocab_chunk_size is None:
      return lambda hidden, targets, weights: losses.cross_entropy_sums(
          decoder_lib.project_to_vocab(cfg, params, hidden), targets, weights, **options)
    slices = decoder_lib.vocab_weight_slices(cfg, params,
                                             cfg.vocab_size // self.loss_vocab_chunk_size)
    return lambda hidden, targets, weights: losses.vocab_chunked_cross_entropy_sums(
        hidden, slices, functools.partial(decoder_lib.project_vocab_slice, cfg), targets,
        weights, vocab_size=cfg.vocab_size, **options)

  @abc.abstractmethod
  def forward_flops(self, batch_size: int, inputs_length: int, targets_length: int) -> float:
    ...

  def train_flops(self, batch_size: int, inputs_length: int, targets_length: int) -> float:
    """Forward + backward (twice the forward), the MFU numerator."""
    return 3 * self.forward_flops(batch_size, inputs_length, targets_length)

  @staticmethod
  def batch_lengths(batch_shapes: dict) -> tuple[int, int]:
    """(inputs length, targets length) of a training batch, as the FLOP count sees them."""
    targets = batch_shapes["decoder_target_tokens"].shape[1]
    if "encoder_input_tokens" in batch_shapes:
      return batch_shapes["encoder_input_tokens"].shape[1], targets
    return 0, targets

  # ---- decoding and scoring (pure: trainer/ jits them over the mesh)

  bidirectional_prompt = False
  kv_cache: type[decoding.KVCache]  # how its decode loop fills and feeds the cache

  @abc.abstractmethod
  def decode_inputs(self, batch: dict, inputs_length: int) -> dict:
    """The decode loop's inputs from an eval-feature-converter batch (numpy) whose task
    inputs were at most `inputs_length` tokens."""

  @abc.abstractmethod
  def prompt_inputs(self, prompts_bp) -> dict:
    """The decode loop's inputs from right-padded prompt ids [b, P] (rollouts)."""

  def generate(self, params, inputs, rng, **options) -> decoding.DecodeOutput:
    """models.decoding.generate under this kind's prompt attention; traceable."""
    return decoding.generate(self.module, params, inputs, rng, cache_kind=self.kv_cache,
                             bidirectional_prompt=self.bidirectional_prompt, **options)

  def generate_with_state(self, params, inputs, rng, **options
                          ) -> tuple[decoding.DecodeOutput, decoding.DecodeState]:
    """models.decoding.generate_with_state under this kind's prompt attention; traceable."""
    return decoding.generate_with_state(self.module, params, inputs, rng,
                                        cache_kind=self.kv_cache,
                                        bidirectional_prompt=self.bidirectional_prompt,
                                        **options)

  def continue_generation(self, params, state, keep_lengths, new_tokens, new_lengths, rng,
                          **options) -> tuple[decoding.DecodeOutput, decoding.DecodeState]:
    """models.decoding.continue_generation for this kind's cache; traceable."""
    return decoding.continue_generation(self.module, params, state, keep_lengths, new_tokens,
                                        new_lengths, rng, cache_kind=self.kv_cache, **options)

  def beam_search(self, params, inputs, **options) -> decoding.DecodeOutput:
    """models.beam_search under this kind's prompt attention; traceable."""
    return beam_search_lib.beam_search(self.module, params, inputs, cache_kind=self.kv_cache,
                                       bidirectional_prompt=self.bidirectional_prompt,
                                       **options)

  def score(self, params, batch) -> scoring.TargetScores:
    """Summed target log-probs of an eval-feature-converter batch; traceable."""
    return scoring.target_log_likelihoods(self.module, params, batch)

  # ---- RLHF: one layout for policy, reference, value and reward model

  def scalar_head(self, with_peft: bool = False):
    """The reward / value network: this kind's trunk with a scalar head; with_peft: under
    the kind's PEFT method (if it has one), the head trained beside the method."""
    head = ScalarHeadModel(self.config, trunk=self._network(self.config))
    if not with_peft or self.peft is None:
      return head
    return PeftModule(head, WithTrainedHead(self.peft), self.init_batch())

  @abc.abstractmethod
  def sequence_batch(self, prompts_bp, responses_br, eos_id: int):
    """(training-layout batch, response column offset) for prompts [b, P] and responses
    [b, R], both right-padded; one EOS is appended after each response's last token, so
    the output at response column t predicts token t and the output at the response's
    length has seen the whole response."""


def _appended_eos(responses_br, eos_id: int):
  """Responses cut at their first padding id, with EOS appended: [b, R + 1]."""
  mask = jnp.cumprod(responses_br > 0, axis=1)
  lengths = jnp.sum(mask, axis=1)
  extended = jnp.pad(jnp.where(mask > 0, responses_br, 0), ((0, 0), (0, 1)))
  return extended.at[jnp.arange(responses_br.shape[0]), lengths].set(eos_id)


def _shift_right(targets):
  return jnp.pad(targets[:, :-1], ((0, 0), (1, 0)))


@gin.configurable(module="models")
class EncoderDecoderModel(ModelKind):
  """T5: inputs in the encoder, targets in the decoder (seqio's EncDecFeatureConverter)."""

  def __init__(self, config: ModelConfig = gin.REQUIRED, pack: bool = True,
               loss_chunk_size: int | None = None, loss_vocab_chunk_size: int | None = None,
               peft: PeftMethod | None = None):
    if not config.is_encoder_decoder:
      raise ValueError("models.EncoderDecoderModel needs ModelConfig.num_encoder_layers > 0;"
                       " a decoder-only config goes with models.DecoderOnlyModel")
    if pack and peft is not None and peft.extra_positions:
      raise ValueError(
          f"models.EncoderDecoderModel: {peft!r} puts a soft prompt in the encoder, which "
          f"attends to every input token of its row: in a packed row it would carry one "
          f"example's tokens to another. Set models.EncoderDecoderModel.pack = False")
    super().__init__(config, pack, loss_chunk_size, loss_vocab_chunk_size, peft)

  kv_cache = decoding.EncoderDecoderCache

  def _network(self, config):
    return EncoderDecoder(config)

  def feature_converter(self, pack):
    return seqio.EncDecFeatureConverter(pack=pack)

  def init_batch(self, batch_size=1, inputs_length=4, targets_length=4):
    ones = lambda length: jnp.ones((batch_size, length), jnp.int32)
    return {"encoder_input_tokens": ones(inputs_length),
            "decoder_input_tokens": ones(targets_length),
            "decoder_target_tokens": ones(targets_length)}

  def forward_flops(self, batch_size, inputs_length, targets_length):
    return flops_lib.encoder_decoder_forward_flops(self.config, batch_size, inputs_length,
                                                   targets_length)

  def decode_inputs(self, batch, inputs_length):
    del inputs_length  # the encoder input is the prompt, padded to its feature length
    return {"encoder_input_tokens": batch["encoder_input_tokens"]}

  def prompt_inputs(self, prompts_bp):
    return {"encoder_input_tokens": prompts_bp}

  def sequence_batch(self, prompts_bp, responses_br, eos_id):
    targets = _appended_eos(responses_br, eos_id)
    return {"encoder_input_tokens": prompts_bp, "decoder_target_tokens": targets,
            "decoder_input_tokens": _shift_right(targets)}, 0


@gin.configurable(module="models")
class DecoderOnlyModel(ModelKind):
  """Llama family: BOS + inputs + targets in one sequence, loss on the targets.

  prefix_lm: attend both ways inside BOS + inputs (seqio's `decoder_causal_attention`),
    in training, decoding and scoring alike; False is a causal LM, as Llama-family
    checkpoints were pretrained.
  """

  def __init__(self, config: ModelConfig = gin.REQUIRED, pack: bool = True,
               prefix_lm: bool = False, loss_chunk_size: int | None = None,
               loss_vocab_chunk_size: int | None = None, peft: PeftMethod | None = None):
    if config.is_encoder_decoder:
      raise ValueError(f"models.DecoderOnlyModel needs ModelConfig.num_encoder_layers == 0 "
                       f"(got {config.num_encoder_layers}); use models.EncoderDecoderModel")
    self.prefix_lm = prefix_lm
    super().__init__(config, pack, loss_chunk_size, loss_vocab_chunk_size, peft)

  def _options_repr(self):
    return f", prefix_lm={self.prefix_lm}" + super()._options_repr()

  @property
  def bidirectional_prompt(self):
    return self.prefix_lm

  kv_cache = decoding.DecoderOnlyCache

  def _network(self, config):
    return DecoderOnly(config)

  def feature_converter(self, pack):
    converter = (seqio.DecoderFeatureConverter if self.prefix_lm
                 else CausalDecoderFeatureConverter)
    return converter(pack=pack, loss_on_targets_only=True)

  def init_batch(self, batch_size=1, inputs_length=4, targets_length=4):
    ones = jnp.ones((batch_size, inputs_length + targets_length), jnp.int32)
    return {"decoder_input_tokens": ones, "decoder_target_tokens": ones}

  def forward_flops(self, batch_size, inputs_length, targets_length):
    return flops_lib.decoder_only_forward_flops(self.config, batch_size,
                                                inputs_length + targets_length)

  def decode_inputs(self, batch, inputs_length):
    # The prompt is BOS + inputs: the inputs are the tokens that carry no loss.
    in_prompt = (batch["decoder_target_tokens"] > 0) & (batch["decoder_loss_weights"] == 0)
    lengths = in_prompt.sum(axis=1).astype(np.int32) + 1
    return {"decoder_prompt_tokens": batch["decoder_input_tokens"][:, :inputs_length + 1],
            "decoder_prompt_lengths": lengths}

  def prompt_inputs(self, prompts_bp):
    with_bos = jnp.pad(prompts_bp, ((0, 0), (1, 0)))
    return {"decoder_prompt_tokens": with_bos,
            "decoder_prompt_lengths": jnp.sum(prompts_bp > 0, axis=1).astype(jnp.int32) + 1}

  def sequence_batch(self, prompts_bp, responses_br, eos_id):
    # Prompts are left-aligned so every response starts at column P (positions are
    # relative, so the left padding changes nothing but the offset).
    prompt_lengths = jnp.sum(prompts_bp > 0, axis=1)
    aligned = decoding.left_align(prompts_bp, prompt_lengths)
    targets = jnp.concatenate([aligned, _appended_eos(responses_br, eos_id)], axis=1)
    batch = {"decoder_target_tokens": targets, "decoder_input_tokens": _shift_right(targets)}
    if self.prefix_lm:
      width = prompts_bp.shape[1]
      # BOS-equivalent slot + the prompt: the columns up to and including column P - 1
      # read prompt tokens only (as seqio marks inputs + one position).
      batch["decoder_causal_attention"] = jnp.broadcast_to(
          (jnp.arange(targets.shape[1]) <= width)[None, :], targets.shape).astype(jnp.int32)
    return batch, prompts_bp.shape[1]


@gin.configurable(module="models")
def make_model(config: ModelConfig = gin.REQUIRED, **options) -> ModelKind:
  """The kind for `config`: encoder-decoder when it has encoder layers. The one factory,
  for code that builds a model from a config it read (a checkpoint, a benchmark)."""
  kind = EncoderDecoderModel if config.is_encoder_decoder else DecoderOnlyModel
  return kind(config, **options)

