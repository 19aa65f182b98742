"""Glue between Radicale and the domain: auth plugin, middleware, app composition."""
