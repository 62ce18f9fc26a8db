"""Reports made from the indices: the daily situation report (``sitrep report daily``,
``GET /v1/sitrep/daily``)."""
