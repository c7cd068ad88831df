"""The pieces of the Anthropic backend (``agents.anthropic_backend``).

Split by concern so each is small and testable on its own: ``pricing``
(dollars per call), ``stream`` (raw SSE events into transcript blocks),
``retry`` (which failures are worth another attempt, and when),
``caching`` (where the cache breakpoints go), ``compaction`` (summarising a
transcript that nears the context window) and ``errors``. The system prompt
(``agents.prompts``) and the errors the loop answers (``agents.backend``) are
not Claude's: the loop and the team never import this package.
"""
