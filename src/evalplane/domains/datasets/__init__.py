"""Datasets: named collections of examples with versions."""
