"""Entry points and agents: `python -m agents.pretrain`, and (later) GRPO, evaluation and SB3 baselines."""
