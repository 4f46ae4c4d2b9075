"""The moderated API shapes. Adding an OpenAI-style API is adding one module here that
implements :class:`~gateway.http.apis.base.ApiShape`, and one route."""
