"""Critic-free policy gradient: GRPO, Dr. GRPO and RLOO over G samples per prompt."""
