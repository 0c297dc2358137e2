"""How an area declares its /api/v1 routes: one `Routes` per area, one `route(...)` decorator per route.

The decorator records the view with its rule, method, role and OpenAPI operation and changes
nothing else; `create_app` hands every area's `Routes` to `app.api.blueprint.register`, which adds them
to the API blueprint (behind `requires_role`) and to the OpenAPI document, so the document cannot
drift from the routes.  `param` and the shared parameter objects describe query and path arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.api.args import DEFAULT_LIMIT, MAX_LIMIT

View = Callable[..., Any]


def param(name: str, where: str, description: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    """An OpenAPI parameter object (path parameters are always required)."""
    return {
        "name": name,
        "in": where,
        "description": description,
        "required": required or where == "path",
        "schema": schema,
    }


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI request body of one JSON object with `schema`'s properties."""
    return _object_body("application/json", schema)


def multipart_body(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI request body of a multipart form (file uploads) with `schema`'s fields."""
    return _object_body("multipart/form-data", schema)


def _object_body(media_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {media_type: {"schema": {"type": "object", **schema}}}}


TIME_PARAMS = [
    param("start", "query", "ISO 8601 start (default: end minus one hour)", {"type": "string", "format": "date-time"}),
    param("end", "query", "ISO 8601 end (default: now)", {"type": "string", "format": "date-time"}),
    param(
        "limit",
        "query",
        f"most rows returned (1-{MAX_LIMIT})",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    ),
]
MODEL_ID = param("model_id", "path", "model id", {"type": "integer"})
SITE = param("site", "query", "one site's windows only (default: every site)", {"type": "string"})


@dataclass(frozen=True)
class Route:
    """One API route: where, who may call it, the view, and its OpenAPI operation."""

    rule: str
    method: str
    role: str
    view: View
    operation: dict[str, Any]


@dataclass
class Routes:
    """One area's API routes, in declaration order."""

    routes: list[Route] = field(default_factory=list)

    def route(
        self,
        rule: str,
        method: str,
        role: str,
        summary: str,
        *,
        parameters: list[dict[str, Any]] | None = None,
        responses: dict[str, str] | None = None,
        request_body: dict[str, Any] | None = None,
    ) -> Callable[[View], View]:
        """Declare `view` as `method rule` for `role` and up, with its OpenAPI operation."""

        def decorate(view: View) -> View:
            operation: dict[str, Any] = {
                "operationId": view.__name__,
                "summary": summary,
                "description": f"Requires role {role}.",
                "parameters": parameters or [],
                "responses": {
                    code: {"description": text}
                    for code, text in {
                        "200": "OK",
                        "401": "not authenticated",
                        "403": f"role below {role}",
                        **(responses or {}),
                    }.items()
                },
            }
            if request_body:
                operation["requestBody"] = request_body
            self.routes.append(Route(rule, method, role, view, operation))
            return view

        return decorate
