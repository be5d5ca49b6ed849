"""The node's JSON API over HTTP: handlers (api.py, shares.py), the boundary's parameters
(params.py), the one middleware that writes every refusal as a JSON error (middleware.py), and the
OpenAPI document that describes them all (openapi.py)."""
