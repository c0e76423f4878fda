"""Test helpers that ship with the code, so benchmarks can use them too."""
