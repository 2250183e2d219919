"""Provider profiles for public STAC APIs: asset names, offsets, signing.

Modules: ``profiles`` (``ProviderProfile``, ``PROFILES``, ``choose_profile``),
``normalise`` (provider items → canonical asset keys and DN offset; ``mask_kind``;
``require_assets``), ``signing`` (Planetary Computer SAS tokens). :func:`prepare_items`
in ``prepare`` chains them for a search's results.
"""
