"""The dashboard (server-rendered pages, inline SVG charts, no JavaScript); routes in server/routes/ui.py."""
