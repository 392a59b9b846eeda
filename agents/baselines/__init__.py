"""stable-baselines3 baselines for CausalBO: training (`python -m agents.baselines.sb3`),
the SB3 vector-environment adapter, and safe loading of SB3 zips for evaluation."""
