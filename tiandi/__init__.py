"""tiandi (天地一体): ecological remote-sensing monitoring pipeline.

Layers, each importing only the ones before it (checked by
``tests/common/test_architecture.py``): catalog -> eo -> models -> redline -> flows ->
cli; ``demo`` is a caller that only the CLI imports. The map: ``docs/architecture.md``.
"""

__version__ = "0.1.0"
