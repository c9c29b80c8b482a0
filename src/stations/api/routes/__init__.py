"""The API's routers, one module per resource, each route a few lines over a service function."""
