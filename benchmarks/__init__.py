"""Benchmarks: commands that time the app on this machine (`make bench`)."""
