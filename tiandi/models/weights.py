"""Save and load Siamese change-detection weights with their model card.

A weights file ``<name>.pt`` is a torch archive holding plain data only (loaded with
``weights_only=True``, no code is unpickled): the format tag, the architecture
parameters, the state dict (including the band normalisation statistics) and the model
card. Beside it lie ``<name>.json`` (the card) and ``<name>.md`` (the card for people).
All three are written atomically. Loading needs no network and checks the band list and
every tensor shape; any problem raises ``ModelError`` naming the file and what was
expected.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tiandi import __version__ as tiandi_version
from tiandi._io import atomic_path
from tiandi.errors import ModelError
from tiandi.models._archive import load_plain
from tiandi.models.card_markdown import md_value, metrics_markdown

if TYPE_CHECKING:  # torch (180 MB resident) is imported by the functions that run it
    import torch

    from tiandi.models.ensemble import MeanOfNetworks
    from tiandi.models.siamese import SiameseDiffUNet

FORMAT = "tiandi.siamese-weights/1"
MAX_WEIGHTS_BYTES = 20 * 1024 * 1024
"""Shipped weights stay below 20 MB."""


@dataclass(frozen=True)
class ModelCard:
    """What a reader of the weights needs to know: what it is, what it saw, how well it does.

    ``metrics`` holds validation-city scores only (never training-city figures).
    """

    name: str
    version: str
    architecture: str
    config: dict[str, Any]
    bands: list[str]
    parameters: int = 0
    training_data: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    command: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    software: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Inverse of ``as_dict`` (unknown keys are ignored)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_markdown(self) -> str:
        """The card as Markdown: summary, data, training, validation metrics, reproduction."""
        lines = [
            f"# {self.name} {self.version}",
            "",
            f"{self.architecture}",
            "",
            f"- Bands ({len(self.bands)}): {', '.join(self.bands)}",
            f"- Parameters: {self.parameters:,}",
            f"- Architecture parameters: `{json.dumps(self.config, sort_keys=True)}`",
            f"- Seed: {self.seed}",
            "",
            "## Training data",
            "",
        ]
        lines += [f"- {k}: {md_value(v)}" for k, v in self.training_data.items()]
        lines += ["", "## Training", ""]
        lines += [f"- {k}: {md_value(v)}" for k, v in self.training.items()]
        lines += ["", "## Metrics (change class; `split` says which cities)", ""]
        lines += metrics_markdown(self.metrics)
        lines += ["", "## Reproduce", "", "```", self.command, "```", ""]
        if self.software:
            lines += ["## Software", ""]
            lines += [f"- {k} {v}" for k, v in sorted(self.software.items())]
            lines.append("")
        if self.notes:
            lines += ["## Notes", ""]
            lines += [f"- {n}" for n in self.notes]
            lines.append("")
        return "\n".join(lines)


@dataclass(frozen=True)
class WeightsFiles:
    """The three files of a saved model."""

    weights: Path
    card_json: Path
    card_md: Path


@dataclass(frozen=True)
class LoadedModel:
    """A network ready for inference (eval mode) and its card."""

    model: SiameseDiffUNet | MeanOfNetworks
    card: ModelCard


def card_paths(path: Path) -> tuple[Path, Path]:
    """The JSON and Markdown card paths beside a ``.pt`` weights path."""
    return path.with_suffix(".json"), path.with_suffix(".md")


def save_weights(path: Path, model: SiameseDiffUNet, card: ModelCard) -> WeightsFiles:
    """Write ``path`` (.pt), and the card as ``.json`` and ``.md`` beside it, atomically.

    Raises ``ModelError`` when the card's bands differ from the model's or the weights
    would exceed ``MAX_WEIGHTS_BYTES``.
    """
    path = Path(path)
    if list(card.bands) != list(model.bands):
        raise ModelError(
            f"{path}: model card bands {card.bands} differ from the model's "
            f"{list(model.bands)}; build the card from the model that is saved"
        )
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "config": model.config.as_dict(),
        "state_dict": state,
        "card": card.as_dict(),
    }
    return write_weights_files(
        path, payload, card, card.to_markdown(), too_big="use fewer base_channels"
    )


def write_weights_files(
    path: Path, payload: dict[str, Any], card: ModelCard, markdown: str, *, too_big: str
) -> WeightsFiles:
    """Write a weights payload and its model card (JSON + Markdown), each atomically.

    ``ModelError`` (nothing written) when the weights exceed the size limit; ``too_big``
    says what to change.
    """
    import torch

    json_path, md_path = card_paths(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
        size = tmp.stat().st_size
        if size > MAX_WEIGHTS_BYTES:
            raise ModelError(
                f"{path}: weights would be {size / 2**20:.1f} MiB, over the "
                f"{MAX_WEIGHTS_BYTES / 2**20:.0f} MiB limit; {too_big}"
            )
    with atomic_path(json_path) as tmp:
        text = json.dumps(card.as_dict(), indent=2, sort_keys=True, ensure_ascii=False)
        tmp.write_text(text + "\n", encoding="utf-8")
    with atomic_path(md_path) as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    return WeightsFiles(weights=path, card_json=json_path, card_md=md_path)


def read_payload(
    path: Path, *, fmt: str, kind: str, writer: str, arrays: bool = False
) -> dict[str, Any]:
    """The dict a tiandi weights file holds, loaded safely (tensors and plain values only).

    ``fmt`` is the expected ``format`` entry, ``kind`` names the model in messages (e.g.
    "Siamese", "land-cover") and ``writer`` the function that writes such files.
    ``arrays``: tensors come as NumPy arrays, read without importing torch
    (:mod:`tiandi.models._archive`). ``ModelError`` naming the file when it is missing,
    truncated or of another format.
    """
    if not path.is_file():
        raise ModelError(
            f"{path}: weights file is missing (a {kind} model); pass an existing .pt file "
            f"written by {writer}, or retrain it"
        )
    try:
        if arrays:
            payload = load_plain(path)
        else:
            import torch

            payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelError(
            f"{path}: cannot read the weights ({type(exc).__name__}: {exc}); the file is "
            f"truncated or not a tiandi {kind} weights file — copy it again or retrain"
        ) from exc
    except pickle.UnpicklingError as exc:
        raise ModelError(
            f"{path}: holds objects other than plain tensors and values; only weights "
            f"written by {writer} are loaded"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ModelError(
            f"{path}: not a tiandi {kind} weights file (format {found!r}, expected "
            f"{fmt!r}); save weights with {writer}"
        )
    return payload


def load_weights(path: Path, *, bands: Sequence[str] | None = None) -> LoadedModel:
    """Load a saved model for inference, checking its band list and tensor shapes.

    ``bands``: the bands the caller will feed, in order; a file trained on another band
    set raises ``ModelError`` naming the file, its bands and the expected ones. A file
    that is missing, truncated, of another format or with tensors of unexpected shape
    raises ``ModelError`` too.
    """
    from tiandi.models.siamese import SiameseConfig, SiameseDiffUNet

    path = Path(path)
    payload = read_payload(
        path, fmt=FORMAT, kind="Siamese", writer="tiandi.models.weights.save_weights"
    )
    try:
        config = SiameseConfig.from_dict(payload["config"])
        card = ModelCard.from_dict(payload["card"])
        states = payload["state_dicts"] if "state_dicts" in payload else payload["state_dict"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"{path}: weights file lacks or garbles its config/card/state_dict (state_dicts "
            f"for an ensemble) ({exc}); retrain, or update tiandi to read ensembles"
        ) from exc
    if bands is not None and tuple(bands) != config.bands:
        raise ModelError(
            f"{path}: weights are for bands {list(config.bands)} "
            f"(input shape (N, {len(config.bands)}, H, W)) but the input has bands "
            f"{list(bands)}; use weights trained on these bands or select those bands"
        )
    ensemble = "state_dicts" in payload  # a seed ensemble (tiandi.models.ensemble)
    if ensemble and (not isinstance(states, list) or len(states) < 2):
        raise ModelError(f"{path}: an ensemble's weights need at least two state dicts; "
                         "save it with tiandi.models.ensemble_weights.save_ensemble")  # fmt: skip
    members = []
    for state in states if ensemble else [states]:
        member = SiameseDiffUNet(config)
        load_checked_state(member, state, path, architecture=str(config.as_dict()),
                           shapes_for=f"bands {list(config.bands)} and base_channels "
                           f"{config.base_channels}")  # fmt: skip
        members.append(member.eval())
    if not ensemble:
        return LoadedModel(model=members[0], card=card)
    from tiandi.models.ensemble import MeanOfNetworks

    return LoadedModel(model=MeanOfNetworks(members).eval(), card=card)


_ARCHITECTURES = {
    "siam-diff": (
        "SiameseDiffUNet: FC-Siam-diff style fully-convolutional Siamese U-Net "
        "(shared encoder, |f1 - f2| skip connections with squeeze-excitation "
        "attention, decoder from the after-image features), tiandi.models.siamese"
    ),
    "early": (
        "SiameseDiffUNet (fusion early): FC-EF style early-fusion U-Net (both dates "
        "stacked as one input to a single encoder, its features as skip connections "
        "with squeeze-excitation attention), tiandi.models.siamese"
    ),
}
"""The model card's ``architecture`` by ``SiameseConfig.fusion``; both begin with the
class name, which is how the registry tells change weights from other models'."""


def build_card(
    model: SiameseDiffUNet,
    *,
    name: str,
    version: str,
    training_data: dict[str, Any],
    training: dict[str, Any],
    seed: int,
    command: str,
    metrics: dict[str, Any],
    notes: Sequence[str] = (),
) -> ModelCard:
    """A model card for ``model`` with architecture, bands and software filled in."""
    import torch

    from tiandi.models.siamese import count_parameters

    return ModelCard(
        name=name,
        version=version,
        architecture=_ARCHITECTURES[model.config.fusion],
        config=model.config.as_dict(),
        bands=list(model.bands),
        parameters=count_parameters(model),
        training_data=dict(training_data),
        training=dict(training),
        seed=seed,
        command=command,
        metrics=dict(metrics),
        software={"torch": str(torch.__version__), "tiandi": tiandi_version},
        notes=list(notes),
    )


def check_state_shapes(
    state: Mapping[str, Any],
    expected: Mapping[str, Sequence[int]],
    path: Path,
    *,
    architecture: str,
    shapes_for: str,
) -> None:
    """Check the names and shapes of ``state``'s tensors (or arrays) against ``expected``.

    ``ModelError`` naming the file, the first mismatching tensors and what the shapes are
    for (``shapes_for``, e.g. the band list) when the weights belong to another model.
    """
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelError(
            f"{path}: tensors do not match the architecture {architecture}: "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}; retrain or re-save"
        )
    for key, shape in expected.items():
        if tuple(state[key].shape) != tuple(shape):
            raise ModelError(
                f"{path}: tensor '{key}' has shape {list(state[key].shape)}, expected "
                f"{list(shape)} for {shapes_for}; the file is for another model"
            )


def load_checked_state(
    model: torch.nn.Module,
    state: dict[str, torch.Tensor],
    path: Path,
    *,
    architecture: str,
    shapes_for: str,
) -> None:
    """Load ``state`` into ``model`` after :func:`check_state_shapes`."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    check_state_shapes(state, expected, path, architecture=architecture, shapes_for=shapes_for)
    model.load_state_dict(state)
