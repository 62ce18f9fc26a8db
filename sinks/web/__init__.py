"""The sitrep web service: analyst search API now; the control room adds its routers later."""

from sinks.web.app import create_app

__all__ = ["create_app"]
