"""The dashboard (server-rendered pages, inline SVG charts, no JavaScript); routes in server/routes/ui.py."""

__all__: list[str] = []  # a namespace: import the modules
