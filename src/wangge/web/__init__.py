"""Pages (Jinja2 + htmx + Leaflet), templates and static files."""
