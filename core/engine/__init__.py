"""The inspection engine: images in, Verdicts out (inference), the mask rules (postprocess), Grad-CAM (explain)."""

from core.engine.explain import Explanation, explain
from core.engine.inference import Inspector

__all__ = ["Explanation", "Inspector", "explain"]
