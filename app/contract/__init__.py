"""The HTTP contract, each fact declared once: the error catalogue (:mod:`app.contract.errors`),
the route record and the path policies derived from a table of them (:mod:`app.contract.routes`).

The package imports nothing from the application, so every module may use it.
"""
