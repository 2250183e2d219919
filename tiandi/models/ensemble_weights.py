"""Save a seed ensemble (:class:`~tiandi.models.ensemble.MeanOfNetworks`) as one weights
file; :func:`tiandi.models.weights.load_weights` reads it back."""

from __future__ import annotations

from pathlib import Path

from tiandi.errors import ModelError
from tiandi.models.ensemble import MeanOfNetworks
from tiandi.models.weights import FORMAT, ModelCard, WeightsFiles, write_weights_files


def save_ensemble(path: Path, ensemble: MeanOfNetworks, card: ModelCard) -> WeightsFiles:
    """Write the ensemble to ``path`` (.pt) with its card beside it (``.json``, ``.md``),
    each file atomically; ``ModelError`` when the card's bands are not the members'."""
    if list(card.bands) != list(ensemble.bands):
        raise ModelError(
            f"{path}: model card bands {card.bands} differ from the ensemble's "
            f"{list(ensemble.bands)}; build the card from the ensemble that is saved"
        )
    states = [
        {k: v.detach().cpu().clone() for k, v in m.state_dict().items()} for m in ensemble.members
    ]
    payload = {
        "format": FORMAT,
        "config": ensemble.config.as_dict(),
        "state_dicts": states,
        "card": card.as_dict(),
    }
    return write_weights_files(
        Path(path), payload, card, card.to_markdown(), too_big="use fewer members"
    )
