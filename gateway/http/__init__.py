"""The HTTP layer: routes, the request middleware, authentication, body parsing, the
upstream client and the moderated exchange. It turns requests into calls to the moderation
pipeline (``gateway.moderation``) and decisions into responses; it holds no rules itself."""
