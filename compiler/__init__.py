"""The compiler pipeline: load a spec (keeping source positions), validate it, build the
typed model every back-end consumes."""
