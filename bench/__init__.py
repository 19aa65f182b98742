"""Benchmark: backside-caldav against stock Radicale 3.9 on the same calendar."""
