"""loopml: the whole ML lifecycle as one closed loop.

The public Python API is re-exported here and listed in ``__all__``; everything else lives in
private modules and may change.
"""

from loopml._version import __version__

__all__ = ["__version__"]
