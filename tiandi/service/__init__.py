"""The platform service (FastAPI): the patch store over HTTP with bearer-token roles.

Public API below; names resolve lazily (see :mod:`tiandi._exports`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiandi._exports import lazy_exports

if TYPE_CHECKING:
    from tiandi.service.app import create_app as create_app
    from tiandi.service.auth import ServiceRole as ServiceRole
    from tiandi.service.auth import TokenStore as TokenStore

_EXPORTS = {"create_app": "app", "ServiceRole": "auth", "TokenStore": "auth"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
