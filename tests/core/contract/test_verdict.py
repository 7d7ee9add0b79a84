import numpy as np

from core.contract.verdict import Verdict


def _verdict(**changes) -> Verdict:
    fields = dict(image_name="a.png", image_sha256="0" * 64, width=4, height=2, class_names=("x",),
                  probabilities=(0.7,), thresholds=(0.5,), defective=True, classes_present=("x",),
                  masks=np.ones((1, 2, 4), bool), regions=(), model_set="s", model_version="1", model_fingerprint="f",
                  model_trained=True, device="cpu", segmenter_ran=True)
    return Verdict(**{**fields, **changes})


def test_backend_and_precision_round_trip():
    verdict = _verdict(backend="openvino", precision="int8")
    back = Verdict.from_dict(verdict.to_dict())
    assert (back.backend, back.precision) == ("openvino", "int8")
    assert verdict.summary()["backend"] == "openvino" and verdict.summary()["precision"] == "int8"


def test_verdicts_stored_before_backends_still_load():
    for device, precision in (("cpu", "fp32"), ("cpu/bf16", "bf16"), ("cuda:0/fp16", "fp16")):
        old = _verdict(device=device).to_dict()
        del old["backend"], old["precision"]
        back = Verdict.from_dict(old)
        assert (back.backend, back.precision) == ("torch", precision)
        assert back.probabilities == (0.7,) and back.masks.all()
