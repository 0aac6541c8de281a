"""The benchmark: a fast mock upstream, a minimal pass-through proxy, drivers and the runner."""
