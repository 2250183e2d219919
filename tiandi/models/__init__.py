"""Models: change detectors (the seasonal CVA baseline and the trained Siamese network),
the per-pixel land-cover model, their weights and model cards, training on OSCD-layout
folders and evaluation.

Modules: ``base`` (the ``ChangeDetector`` protocol and mask values), ``baseline``
(``BaselineDetector``), ``registry`` (``load_detector``: every detector by name),
``siamese`` (the network), ``siamese_detector`` (the network as a detector), ``burned``
(burned area), ``tiling`` and ``tiling_grid`` (the one tiler of whole scenes, lazy or
not), ``weights`` (weights files and ``ModelCard``), ``oscd`` (reading OSCD-layout
folders), ``metrics`` (confusion matrices), ``evaluation`` (``evaluate_oscd``),
``training`` (``train_siamese``) with ``training_config``, ``training_data``,
``training_loop``, ``training_scores`` and ``training_card``; ``landcover`` (the
land-cover model) with ``landcover_train``, ``landcover_data`` and ``landcover_eval`` (its
training and held-out evaluation).

Public API below; import it from here. Names resolve lazily (see
:mod:`tiandi._exports`), so importing one module of this package imports neither the
others nor torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiandi._exports import lazy_exports

if TYPE_CHECKING:
    from tiandi.models.base import CHANGE as CHANGE
    from tiandi.models.base import NO_CHANGE as NO_CHANGE
    from tiandi.models.base import NO_DATA as NO_DATA
    from tiandi.models.base import ChangeDetector as ChangeDetector
    from tiandi.models.baseline import BaselineDetector as BaselineDetector
    from tiandi.models.baseline import BaselineParams as BaselineParams
    from tiandi.models.evaluation import OscdEvaluation as OscdEvaluation
    from tiandi.models.evaluation import evaluate_oscd as evaluate_oscd
    from tiandi.models.evaluation import write_evaluation as write_evaluation
    from tiandi.models.landcover import LandCoverModel as LandCoverModel
    from tiandi.models.landcover import landcover_probabilities as landcover_probabilities
    from tiandi.models.landcover import load_landcover as load_landcover
    from tiandi.models.metrics import ConfusionMatrix as ConfusionMatrix
    from tiandi.models.registry import available_detectors as available_detectors
    from tiandi.models.registry import load_detector as load_detector
    from tiandi.models.registry import require_bands as require_bands
    from tiandi.models.siamese import SiameseConfig as SiameseConfig
    from tiandi.models.siamese import SiameseDiffUNet as SiameseDiffUNet
    from tiandi.models.siamese_detector import SiameseDetector as SiameseDetector
    from tiandi.models.tiling import predict_dataset as predict_dataset
    from tiandi.models.tiling_grid import TileConfig as TileConfig
    from tiandi.models.training import TrainResult as TrainResult
    from tiandi.models.training import train_siamese as train_siamese
    from tiandi.models.training_config import TrainConfig as TrainConfig
    from tiandi.models.weights import ModelCard as ModelCard
    from tiandi.models.weights import load_weights as load_weights
    from tiandi.models.weights import save_weights as save_weights

_EXPORTS = {
    "CHANGE": "base",
    "NO_CHANGE": "base",
    "NO_DATA": "base",
    "ChangeDetector": "base",
    "BaselineDetector": "baseline",
    "BaselineParams": "baseline",
    "SiameseConfig": "siamese",
    "SiameseDiffUNet": "siamese",
    "SiameseDetector": "siamese_detector",
    "available_detectors": "registry",
    "load_detector": "registry",
    "require_bands": "registry",
    "TileConfig": "tiling_grid",
    "predict_dataset": "tiling",
    "ModelCard": "weights",
    "load_weights": "weights",
    "save_weights": "weights",
    "ConfusionMatrix": "metrics",
    "OscdEvaluation": "evaluation",
    "evaluate_oscd": "evaluation",
    "write_evaluation": "evaluation",
    "TrainConfig": "training_config",
    "TrainResult": "training",
    "train_siamese": "training",
    "LandCoverModel": "landcover",
    "landcover_probabilities": "landcover",
    "load_landcover": "landcover",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
