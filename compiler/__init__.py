"""The compiler pipeline: load a spec (keeping source positions), validate it, build the
typed model every back-end consumes.

The front end is this package's own modules (loader → schema_check → modelbuilder → rules,
with expressions/ for the flow language); each back-end is a package of its own that reads
the model: mim/ (the MA export XML, and reading it back; it embeds the script set, so it
knows powershell/'s script slots), powershell/ (the script set), python/ (the native runtime)
and csharp/ (the MIM rules extension). Adding a back-end touches no other: build.py calls
each of them once.
"""
