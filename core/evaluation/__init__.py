"""Measuring a model set: pure metrics, the evaluation run, its HTML report."""
