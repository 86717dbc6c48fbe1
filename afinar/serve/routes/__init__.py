"""One router per OpenAI resource, plus the operational endpoints (``/healthz``, ``/metrics``)."""
