"""Amortized structure learners: networks that map a task's data to a posterior over its
graph, trained on task streams (:mod:`causal_meta.data`)."""

from causal_meta.models import avici as _avici
from causal_meta.models.avici import *  # noqa: F403  (its public names, listed once in its __all__)

__all__: list[str] = []
__all__ += _avici.__all__
