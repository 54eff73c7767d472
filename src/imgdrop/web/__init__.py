"""The ASGI web app: JSON API, local blob endpoints and server-rendered pages."""
