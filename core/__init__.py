"""SteelScan's engine: inference, explanations, rendering, datasets. Never imports streamlit."""

from core.errors import DatasetError, ImageError, ModelSetError, SteelScanError
from core.explain import Explanation, explain
from core.imageio import LoadedImage, load_image
from core.inference import Inspector
from core.modelset import ModelCard, ModelSet, create_untrained, list_model_sets, load_model_set
from core.verdict import Region, Verdict

__all__ = [
    "DatasetError", "Explanation", "ImageError", "Inspector", "LoadedImage", "ModelCard", "ModelSet",
    "ModelSetError", "Region", "SteelScanError", "Verdict", "create_untrained", "explain", "load_image",
    "list_model_sets", "load_model_set",
]
