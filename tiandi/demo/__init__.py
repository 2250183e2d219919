"""The demo: a caller of the pipeline, not a layer of it (only :mod:`tiandi.cli` imports it).

``scene*`` generate the synthetic Sentinel-2 L2A scene with planted events of known truth
(``scene`` is the entry point, ``scene_catalog`` registers it); ``run`` is ``tiandi demo``
(scene → catalog → ``detect_changes`` → summary); ``cycle_flow`` with ``cycle_stages``,
``cycle_steps``, ``cycle_tasks`` is the scripted supervision cycle (``--full-cycle``),
whose people are scripted in ``cycle_script`` (reviewer, supervisor, tamperer) and
``field_crew`` (crews editing packages as a field app does); ``cycle_report`` is its
summary and ``recheck`` the later period of the re-check (回头看).
"""
