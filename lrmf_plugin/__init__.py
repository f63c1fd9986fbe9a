"""lrmf-plugin: predict full LLM benchmark scores from a small planned subset, lineage and metadata."""
from __future__ import annotations

__version__ = "0.1.0"
