"""The benchmark suite (bench/run.py) and the apps it measures wxsite against."""
