"""Back-end: the model ↔ MIM's MA export XML. Writing it (maexport, mimxml, capabilities),
reading it back into a spec (decompile, importma) and comparing two by meaning (canonical,
semdiff)."""
