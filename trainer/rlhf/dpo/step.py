"""The DPO-family step: chosen and rejected responses in one forward pass of the policy
(and of the reference when the loss needs it online), sequence log-probs read off the
model kind's prompt + response layout, the configured preference loss, one optimizer update.

Batch: prompts int [b, P], chosen and rejected int [b, R] (right-padded); with cached
reference log-probs also reference_chosen and reference_rejected float [b]. Dropout is off:
policy and reference log-probs must come from the same function of the weights.
"""
import jax
import jax.numpy as jnp
import optax

from trainer.rlhf import batches
from trainer.rlhf.dpo import losses as losses_lib


def response_logprob_sums(model, params, prompts_bp, responses_br, eos_id: int):
  """(summed log-prob of each response [b], its token count [b]) under `params`; a
  response's tokens are those before its first padding id."""
  batch, offset = model.sequence_batch(prompts_bp, responses_br, eos_id)
  logprobs, _ = batches.sequence_logprobs(model, params, batch, offset, responses_br)
  mask = batches.response_mask(responses_br)
  return jnp.sum(logprobs * mask, axis=1), jnp.sum(mask, axis=1)


def pair_logprobs(model, params, batch, eos_id: int):
  """(chosen, rejected, chosen tokens, rejected tokens) of each pair [b], in one pass
  over the 2b sequences."""
  b = batch["chosen"].shape[0]
  logp, tokens = response_logprob_sums(
      model, params, jnp.concatenate([batch["prompts"], batch["prompts"]]),
      jnp.concatenate([batch["chosen"], batch["rejected"]]), eos_id)
  return logp[:b], logp[b:], tokens[:b], tokens[b:]


def reference_logprobs(model, reference_params, batch, eos_id: int):
  """{"reference_chosen", "reference_rejected"} [b]: the frozen reference's log-probs
  (`model`'s network without its PEFT method, if it has one)."""
  chosen, rejected, _, _ = pair_logprobs(model.without_peft(),
                                         jax.lax.stop_gradient(reference_params), batch,
                                         eos_id)
  return {"reference_chosen": chosen, "reference_rejected": rejected}


def pair_loss(params, reference_params, batch, frozen=None, *, model,
              config: losses_lib.DPOConfig, eos_id: int):
  """(mean loss over the batch's pairs, metrics). params: the trained part, which `frozen`
  (a PEFT policy's base) completes. reference_params: None unless the loss needs
  reference log-probs online (cached ones are in the batch)."""
  chosen, rejected, chosen_tokens, rejected_tokens = pair_logprobs(
      model, model.join_params(frozen, params), batch, eos_id)
  reference = {}
  if config.uses_reference:
    reference = (batch if reference_params is None
                 else reference_logprobs(model, reference_params, batch, eos_id))
  lp = losses_lib.PairLogProbs(chosen, rejected, chosen_tokens, rejected_tokens,
                               reference.get("reference_chosen"),
                               reference.get("reference_rejected"))
  out = losses_lib.preference_loss(lp, config)
  margins = out.chosen_rewards - out.rejected_rewards
  metrics = {"chosen_rewards": jnp.mean(out.chosen_rewards),
             "rejected_rewards": jnp.mean(out.rejected_rewards),
             "reward_margin": jnp.mean(margins),
             "reward_accuracy": jnp.mean((margins > 0).astype(jnp.float32)),
             "policy_chosen_logp": jnp.mean(chosen), "policy_rejected_logp": jnp.mean(rejected),
             **{name: jnp.mean(value) for name, value in out.extras.items()}}
  return jnp.mean(out.losses), metrics


def dpo_step(state, reference_params, batch, frozen=None, *, model, optimizer,
             learning_rate_fn, config: losses_lib.DPOConfig, eos_id: int):
  """One optimizer update of the policy on a batch of pairs; (new TrainState, metrics).
  frozen: a PEFT policy's base (None without PEFT), read, never changed."""
  (loss, metrics), grads = jax.value_and_grad(pair_loss, has_aux=True)(
      state.params, reference_params, batch, frozen, model=model, config=config,
      eos_id=eos_id)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics.update(loss=loss, grad_norm=optax.tree.norm(grads),
                 learning_rate=learning_rate_fn(state.step))
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics
