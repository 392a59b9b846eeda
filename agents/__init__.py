"""Entry points and agents: `python -m agents.pretrain` (structure learners),
`python -m agents.evaluate` (CausalBO policies against random, oracle and baselines),
the baseline policies (:mod:`agents.policies`) and stable-baselines3 baselines
(:mod:`agents.baselines`)."""
