"""Training and evaluation recipe for the shipped safety classifier.

``python -m models.training --out DIR`` builds the training set from the shared datasets and
the project's data files (``data/*.jsonl``), trains the character + pinyin n-gram model (or,
with ``--arch encoder`` / ``--init DIR``, a transformer encoder), calibrates per-direction
thresholds on the validation split and writes a loadable model directory with
``thresholds.json``, ``metrics.json`` and a model card.
"""

from models.training.cli import register

__all__ = ["register"]
