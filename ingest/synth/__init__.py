"""The synthetic merchant network: honest merchants, planted rings, credit outcomes.

``generate(SynthParams(merchants=20000, seed=7), "data/demo")`` writes the input files
of DESIGN.md (merchants, payments, supply, shipments, labels, defaults), the ground
truth (``truth/rings.csv``, ``truth/merchants.csv``) and ``manifest.json``.
See docs/data.md for the world model, the typologies and every column.
"""

from guanxi.ingest.synth.generate import Progress, SynthSummary, generate
from guanxi.ingest.synth.params import (
    DIFFICULTIES,
    FORMATS,
    GENERATOR_VERSION,
    TYPOLOGIES,
    SynthParams,
)

__all__ = [
    "DIFFICULTIES",
    "FORMATS",
    "GENERATOR_VERSION",
    "TYPOLOGIES",
    "Progress",
    "SynthParams",
    "SynthSummary",
    "generate",
]
