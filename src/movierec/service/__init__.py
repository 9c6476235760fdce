"""The web service: FastAPI app factory, routers, schemas, settings, static web page.

Needs the ``service`` extra (``pip install movierec[service]``).
"""

from movierec.service.app import create_app
from movierec.service.settings import Settings

__all__ = ["Settings", "create_app"]
