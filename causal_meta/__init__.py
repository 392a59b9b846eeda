"""causal-meta: amortized causal learning on a fast Rust SCM engine.

The engine lives in :mod:`causal_meta.scm` (SCMs, task batches) with its specs in
:mod:`causal_meta.specs`; graph metrics in :mod:`causal_meta.metrics`.
"""

__version__ = "0.1.0"
