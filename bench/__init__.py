"""Benchmarks (``sitrep bench``): each figure is printed next to a ceiling from the same run."""
