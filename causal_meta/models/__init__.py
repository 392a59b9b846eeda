"""Amortized structure learners: networks that map a task's data to a posterior over its
graph, trained on task streams (:mod:`causal_meta.data`): AVICI (:mod:`.avici`) and
BCNP (:mod:`.bcnp`), listed by name in :mod:`.registry`."""

from causal_meta.models import avici as _avici
from causal_meta.models import bcnp as _bcnp
from causal_meta.models.avici import *  # noqa: F403  (its public names, listed once in its __all__)
from causal_meta.models.bcnp import *  # noqa: F403

__all__: list[str] = []
__all__ += _avici.__all__
__all__ += _bcnp.__all__
