"""The built-in search spaces, shipped in the package as ``actsearch.search_spaces``.

Read and copy the YAML files beside this one; pass a copy with ``--space PATH``.
"""
