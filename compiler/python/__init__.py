"""Back-end: the model → the native Python runtime of a connector (emit: rules.py, manifest
and package files)."""
