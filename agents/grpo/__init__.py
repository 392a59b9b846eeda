"""GRPO for causal Bayesian optimisation: a permutation-invariant intervention policy
(:mod:`~agents.grpo.policy`) trained jointly with a structure-learning surrogate
(:mod:`causal_meta.surrogate`) over an adaptive curriculum
(:mod:`~agents.grpo.curriculum`) by :mod:`~agents.grpo.train`; the trained agent
(:mod:`~agents.grpo.agent`) acts through the stable-baselines3 ``predict`` protocol.
Entry point: ``python -m agents.grpo``."""
