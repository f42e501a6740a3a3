"""Keep nomadctl's pytest out of the vendored suite and the shims: they run in a subprocess."""

collect_ignore = ["python_nomad", "shim"]
