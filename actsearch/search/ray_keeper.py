"""The keeper of a local Ray a search started: ``python -m actsearch.search.ray_keeper
ADDRESS GROUP KEEP_SECONDS`` stops the Ray at ``ADDRESS`` (process group ``GROUP``) once no
search has held a lease on it for ``KEEP_SECONDS`` (see :mod:`actsearch.search.local_ray`).
"""

from __future__ import annotations

import sys

from actsearch.search.local_ray import keep

if __name__ == "__main__":
    address, group, keep_seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    keep(address, group, keep_seconds)
