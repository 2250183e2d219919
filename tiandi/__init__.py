"""tiandi (天地一体): ecological remote-sensing monitoring pipeline.

Layers, each importing only the ones before it:
catalog -> eo -> models -> redline -> flows -> service.
"""

__version__ = "0.1.0"
