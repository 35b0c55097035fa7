"""The legwake dashboard: every desk live from MQTT, and the ergonomist's history from the log.

`legwake dashboard` serves it (dashboard/server.py); dashboard/app.py has the routes.
It needs the `dashboard` extra (Starlette, uvicorn, sse-starlette, Jinja2).
"""
