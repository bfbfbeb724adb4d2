"""The modelreg server: ``create_app(settings)`` builds the FastAPI app; ``modelreg serve`` runs it on uvicorn.

Layout: ``app`` (the factory), ``routes/`` (one router per resource), ``errors`` (the one error edge),
``auth`` (bearer tokens -> a ``Service`` per request), ``state`` (stores shared by a process), ``limits``
(the JSON body limit), ``pipe`` (streamed uploads), ``wire`` (request shapes), ``runner`` (uvicorn with
TCP_NODELAY on every worker). Only this package imports FastAPI.
"""

from modelreg.server.app import create_app

__all__ = ["create_app"]
