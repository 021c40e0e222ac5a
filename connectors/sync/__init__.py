"""The runtime's rule book: expression functions, compiled flows, join, plan and apply.

The same spec means the same thing here as in MIM: join rules, flow precedence and null
handling follow the MA's semantics, so `maforge plan` predicts what the MA would export.
"""
