"""Performance scripts and the simulators they share: what measures the product, never part
of it (``python bench/<script>.py``; tests import ``bench`` from the repository root)."""
