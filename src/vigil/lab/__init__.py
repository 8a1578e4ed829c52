"""Clusters of real processes for the demo, tests and benchmarks (netns lab later)."""
