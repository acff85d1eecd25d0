"""Validates every response a round trip recorded against the models that
datamodel-code-generator makes from the same OpenAPI document, in its default mode.

usage: validate_models.py SPEC MODELS_PY RESPONSES_JSON

Each recorded response ({"method", "url", "status", "body"}) is matched to its operation
by method and path template; the schema of that status (an entry of
`components/responses` included) names the model. A response whose operation or status
the document does not describe fails too: the document must describe what the server
says.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from urllib.parse import urlparse


def load_models(path: str):
    spec = importlib.util.spec_from_file_location("vellum_models", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["vellum_models"] = module
    spec.loader.exec_module(module)
    return module


def schema_name(doc: dict, response: dict) -> str | None:
    ref = response.get("$ref")
    if ref:
        response = doc["components"]["responses"][ref.rsplit("/", 1)[1]]
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    ref = schema.get("$ref")
    if not ref:
        raise SystemExit(f"an inline response schema: {schema}")
    return ref.rsplit("/", 1)[1]


def operations(doc: dict):
    """(method, compiled path template, operation), most specific templates first."""
    out = []
    for template, item in doc["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        literal = len(re.sub(r"\{[^}]+\}", "", template))
        for method, op in item.items():
            out.append((literal, method.upper(), re.compile(pattern), op))
    out.sort(key=lambda t: -t[0])
    return [(m, p, op) for _, m, p, op in out]


def main() -> int:
    spec_path, models_path, seen_path = sys.argv[1:4]
    doc = json.load(open(spec_path))
    models = load_models(models_path)
    ops = operations(doc)
    seen = json.load(open(seen_path))
    failures = []
    checked = 0
    for rec in seen:
        path = urlparse(rec["url"]).path
        op = next((op for m, p, op in ops if m == rec["method"] and p.match(path)), None)
        where = f'{rec["method"]} {path} → {rec["status"]}'
        if op is None:
            failures.append(f"{where}: no operation in the document")
            continue
        response = op["responses"].get(str(rec["status"]))
        if response is None:
            failures.append(f'{where}: status not documented for {op["operationId"]}')
            continue
        name = schema_name(doc, response)
        if name is None:
            if rec.get("body") not in (None, "", {}):
                failures.append(f"{where}: a body where the document says none")
            continue
        model = getattr(models, name, None)
        if model is None:
            failures.append(f"{where}: no model {name}")
            continue
        try:
            model.model_validate(rec["body"])
            checked += 1
        except Exception as e:  # pydantic.ValidationError, reported whole
            failures.append(f"{where}: {name}: {e}")
    if failures:
        print("validate_models: MISMATCH\n" + "\n".join(failures), file=sys.stderr)
        return 1
    if checked == 0:
        print("validate_models: no response was checked", file=sys.stderr)
        return 1
    print(f"validate_models: ok ({checked} responses)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
