"""Training and evaluation recipe for the shipped small safety classifier.

``python -m models.training --out DIR`` builds the training set from the shared datasets,
trains a character-level BERT, and writes a transformers model directory with
``thresholds.json``, ``metrics.json`` and a model card.
"""

from models.training.cli import register

__all__ = ["register"]
