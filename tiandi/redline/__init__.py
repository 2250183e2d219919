"""The red-line domain: from a change mask to reviewed, field-checked, reported patches.

Subpackages follow the data: ``zones`` (what is watched) → ``patches`` (what changed
there) → ``store`` (patches across runs, lifecycle, audit chain) → ``field`` (tasks,
packages, import of field results) → ``accuracy`` (Olofsson estimates) → ``reports``
(run summary, ledgers). ``vocabulary`` holds the terms they share: HJ 1156 classes,
change types, functional zones, screening reasons, the store CRS, area units.
"""
