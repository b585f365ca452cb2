"""The staff console in the browser: ``create_app(node, settings)`` (see ``app``)."""

from console.web.app import create_app

__all__ = ["create_app"]
