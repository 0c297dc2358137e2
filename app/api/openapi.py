"""The OpenAPI 3 document of /api/v1, built with apispec from the routes the areas declared.

`apispec.APISpec` assembles and checks the document (operations, parameters, components) and its
Flask plugin turns each route's Flask rule into the OpenAPI path (`<int:model_id>` -> `{model_id}`),
so nothing here rewrites paths or assembles the document by hand.  It is built once per app, after
the API blueprint is registered, and served as `/api/v1/openapi.json`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apispec import APISpec
from apispec_webframeworks.flask import FlaskPlugin
from flask import Flask, current_app, jsonify

from app.api.routes import Route, Routes

API_VERSION = "1.0.0"
EXTENSION = "oceanwatch_openapi"
DESCRIPTION = (
    "Models, predictions, windows and AIS data. Send `Authorization: Bearer <token>` "
    "(create a token on your account page)."
)

routes = Routes()


def build(app: Flask, endpoints: Iterable[tuple[str, Route]]) -> dict[str, Any]:
    """The document of the given (endpoint, route) pairs, as registered on `app`."""
    spec = APISpec(
        title="OceanWatch API",
        version=API_VERSION,
        openapi_version="3.0.3",
        plugins=[FlaskPlugin()],
        info={"description": DESCRIPTION},
        security=[{"bearer": []}, {"session": []}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("session", {"type": "apiKey", "in": "cookie", "name": "session"})
    for endpoint, route in sorted(endpoints, key=lambda pair: (pair[1].rule, pair[1].method)):
        spec.path(view=app.view_functions[endpoint], app=app, operations={route.method.lower(): route.operation})
    return spec.to_dict()


def openapi_document(app: Flask) -> dict[str, Any]:
    """The app's OpenAPI document (built by `app.api.blueprint.register`)."""
    return app.extensions[EXTENSION]


@routes.route("/openapi.json", "GET", "viewer", "This document")
def openapi() -> Any:
    return jsonify(openapi_document(current_app))
