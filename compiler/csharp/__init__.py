"""Back-end: the model → a C# MIM rules extension (IMASynchronization) for what MIM can only
run as code: expression flows, scripted join mappings. Expressions compile to C# once, the
way they compile to Python for the runtime (expressions.py); the catalogue functions live in
a runtime class with .NET semantics (templates/csharp/MaforgeRuntime.cs)."""
