"""The OpenAPI document and the app's views: the ``/api/`` rules the app
serves (:func:`api_routes`); every path of the document made from its
view's URL rule and, where the view says what it does, an operation's
summary from its docstring; and the operations the other parts of the
document do not describe (a plugin's blueprint, a newer part of the API),
made from the URL rule (path and parameters) and the view's docstring
(summary and description), so every route the app serves is in the
document.

Depends on Flask and Werkzeug only.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any

from flask import Flask

from metacrm.platform.web import PUBLIC_ATTR

from .schemas import error_refs, json_content

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
# <name>, <int:id>, <any(a, 'b-c'):kind> in a Werkzeug rule: (converter, its arguments, variable)
RULE_VARIABLE = re.compile(r"<(?:([A-Za-z_]\w*)(?:\(([^)]*)\))?:)?([A-Za-z_]\w*)>")


def path_parameter(converter: str, arguments: str, name: str) -> dict:
    """The path parameter of one rule variable (``<int:id>`` → an integer)."""
    schema: dict[str, Any] = {"type": "string"}
    if converter == "int":
        schema = {"type": "integer"}
    elif converter == "float":
        schema = {"type": "number"}
    elif converter == "any":
        schema = {"type": "string", "enum": sorted(a.strip().strip("'\"") for a in arguments.split(","))}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def view_summary(doc: str) -> str:
    """An operation's summary: the first paragraph of its view's docstring, on one line."""
    return " ".join(doc.partition("\n\n")[0].split())


def rule_parameters(rule: str) -> list[dict]:
    """The path parameters of a URL rule's variables, as the rule declares them."""
    return [path_parameter(*variable) for variable in RULE_VARIABLE.findall(rule)]


@dataclass(frozen=True)
class Route:
    """One URL rule of the app, as the document needs it."""

    rule: str
    endpoint: str
    methods: frozenset[str]
    doc: str
    public: bool


def api_routes(app: Flask) -> list[Route]:
    """Every ``/api/`` rule of the app (plugins' blueprints included)."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        view = app.view_functions.get(rule.endpoint)
        routes.append(
            Route(
                rule.rule,
                rule.endpoint,
                frozenset((rule.methods or set()) - {"HEAD", "OPTIONS"}),
                (inspect.getdoc(view) or "") if view else "",
                bool(getattr(view, PUBLIC_ATTR, False)),
            )
        )
    return routes


class RouteSections:
    """The part of :class:`~metacrm.api.openapi.document.DocumentBuilder`
    that reads the views: operation summaries from their docstrings, and the
    routes no other part describes."""

    routes: list[Route]
    view_docs: dict[str, str]  # endpoint → its view's docstring
    view_rules: dict[str, str]  # endpoint → its URL rule
    path_rules: dict[str, str]  # a path of the document → the URL rule it was made from
    paths: dict[str, Any]

    def _path(self, endpoint: str, **values: str) -> str:
        """The document's path for the view ``endpoint``: its URL rule with
        each variable as ``{variable}``, or as ``values`` gives it (an
        object's api name in its record paths, or the name the document
        uses for the variable)."""
        rule = self.view_rules[endpoint]
        path = RULE_VARIABLE.sub(lambda m: values.get(m[3], "{" + m[3] + "}"), rule)
        self.path_rules[path] = rule
        return path

    def _path_parameters(self, endpoint: str) -> list[dict]:
        """The path parameters of the view ``endpoint``, from its URL rule
        (for paths whose parameters need no more than the rule says)."""
        return rule_parameters(self.view_rules[endpoint])

    def _summary(self, endpoint: str) -> str:
        """The summary of the operation the view ``endpoint`` serves, from its
        docstring: the other parts of the document use it where the view says
        what the operation does."""
        return view_summary(self.view_docs.get(endpoint, "")) or endpoint

    def _other_routes(self) -> None:
        """API routes the other sections do not describe (a plugin's
        blueprint, a newer part of the API; the record endpoints while the
        tenant has no object) still appear: path and parameters from the URL
        rule, summary from the view's docstring."""
        # Which routes are described is known from the rules their paths were made from.
        unmade = sorted(set(self.paths) - set(self.path_rules))
        if unmade:
            raise RuntimeError(f"OpenAPI paths not made with _path() from a view's URL rule: {', '.join(unmade)}")
        described = {(rule, method) for path, rule in self.path_rules.items() for method in self.paths[path]}
        for route in sorted(self.routes, key=lambda r: r.rule):
            for method in sorted(m.lower() for m in route.methods):
                if (route.rule, method) in described or method not in HTTP_METHODS:
                    continue
                path = RULE_VARIABLE.sub(lambda m: "{" + m[3] + "}", route.rule)
                item = self.paths.setdefault(path, {})
                parameters = rule_parameters(route.rule)
                if "parameters" not in item and parameters:
                    item["parameters"] = parameters
                description = route.doc.partition("\n\n")[2]
                operation: dict[str, Any] = {
                    "tags": [route.endpoint.split(".", 1)[0].removeprefix("api_")],
                    "operationId": f"{route.endpoint}.{method}",
                    "summary": self._summary(route.endpoint),
                    "responses": {
                        "default": {"description": "The endpoint's answer.", "content": json_content({})},
                        **error_refs("401", "403", "404"),
                    },
                }
                if description.strip():
                    operation["description"] = description.strip()
                if method in ("post", "put", "patch"):
                    operation["requestBody"] = {"content": json_content({"type": "object"})}
                if route.public:
                    operation["security"] = []
                item[method] = operation
