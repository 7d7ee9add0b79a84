"""Which model set the dashboard runs, with the per-class settings changed in it (logged in the review log).

Threshold and minimum-area changes never touch the model set's files: they are rows in the
review log, keyed by the weights' fingerprint, applied by building an Inspector on a replaced
card that shares the loaded networks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from core.contract.errors import ModelSetError, SteelScanError
from core.datasets.synthetic import CLASS_NAMES
from core.engine.inference import Inspector
from core.modelsets.modelset import ModelCard, create_untrained, list_model_sets, read_card
from core.review.store import ReviewLog
from core.training.operating_point import TargetThreshold

DEMO_MODEL_SET = "demo-untrained"
HOW_TO_GET_A_MODEL_SET = (
    "Copy a trained model set folder (card.json, classifier.safetensors, segmenter.safetensors) into {models_dir}/, "
    "or train one with `python -m core.train` (README, section Training); the project ships "
    "`severstal-synthetic` and `neu-det` there once trained. To try the dashboard meanwhile, create an untrained "
    f"demo set on the Models page (`{DEMO_MODEL_SET}`): it runs end to end but its verdicts are random."
)


class NoModelSetError(SteelScanError):
    """No usable model set is installed or chosen."""


@dataclass(frozen=True)
class InstalledSet:
    name: str
    folder: Path
    card: ModelCard | None
    problem: str = ""  # why the card cannot be read, for the Models page


def installed_model_sets(models_dir: Path) -> list[InstalledSet]:
    found = []
    for name in list_model_sets(models_dir):
        folder = Path(models_dir) / name
        try:
            found.append(InstalledSet(name, folder, read_card(folder)))
        except ModelSetError as exc:
            found.append(InstalledSet(name, folder, None, str(exc)))
    return found


def resolve_active(log: ReviewLog, models_dir: Path, default: str) -> InstalledSet:
    """The set last chosen on the Models page, else the settings' default; a clear error if neither is there."""
    installed = {s.name: s for s in installed_model_sets(models_dir)}
    fix = HOW_TO_GET_A_MODEL_SET.format(models_dir=models_dir)
    if not installed:
        raise NoModelSetError(models_dir, "holds no model set", fix)
    chosen = log.active_model_set()
    name = chosen if chosen in installed else default
    if name not in installed:
        names = ", ".join(installed)
        raise NoModelSetError(models_dir / name, "is not installed (the default model set)",
                              f"choose one of the installed sets ({names}) on the Models page, "
                              "or set model_set in steelscan.toml / STEELSCAN_MODEL_SET")
    found = installed[name]
    if found.card is None:
        raise NoModelSetError(found.folder, found.problem,
                              "re-copy the model set, or choose another on the Models page")
    return found


def effective_card(card: ModelCard, overrides: dict[str, dict[str, float | int]]) -> ModelCard:
    """The card with the logged per-class threshold / min_area changes applied."""
    classes = tuple(replace(spec, **{k: v for k, v in overrides.get(spec.name, {}).items()
                                     if k in ("threshold", "min_area")}) for spec in card.classes)
    return replace(card, classes=classes)


def with_overrides(inspector: Inspector, overrides: dict[str, dict[str, float | int]]) -> Inspector:
    """An Inspector sharing the loaded networks, deciding with the changed thresholds (cheap: no copy)."""
    if not overrides:
        return inspector
    model_set = replace(inspector.model_set, card=effective_card(inspector.model_set.card, overrides))
    return Inspector(model_set, inspector.device, inspector.batch_size, inspector.max_pixels, inspector.precision,
                     backend=inspector.backend)


def change_class_settings(log: ReviewLog, card: ModelCard, current: ModelCard,
                          wanted: dict[str, dict[str, float | int]], who: str, reason: str = "") -> int:
    """Log each changed value (threshold in [0, 1], min_area >= 0); returns how many changed."""
    before = {spec.name: spec for spec in current.classes}
    changes = []
    for class_name, values in wanted.items():
        if class_name not in before:
            raise SteelScanError(card.name, f"has no class {class_name!r}", f"classes: {', '.join(card.class_names)}")
        for key, value in values.items():
            if key == "threshold" and not 0.0 <= float(value) <= 1.0:
                raise SteelScanError(f"{class_name} threshold", f"{value} is outside 0..1", "enter a probability")
            if key == "min_area" and int(value) < 0:
                raise SteelScanError(f"{class_name} minimum area", f"{value} is negative", "enter 0 or more pixels")
            old = getattr(before[class_name], key)
            if (round(float(value), 6) if key == "threshold" else int(value)) != old:
                # Rounded as compared: a number input's 0.7000000000000001 is logged as 0.7.
                changes.append((key, class_name, old, round(float(value), 6) if key == "threshold" else int(value)))
    if changes:
        require_reason(reason)  # every logged change carries why (issue 37): "nothing changed" needs none
    for key, class_name, old, new in changes:
        log.log_setting_change(key, str(new), who, model_set=card.name, model_fingerprint=card.fingerprint,
                               class_name=class_name, old_value=str(old), reason=reason)
    return len(changes)


def change_thresholds_to_targets(log: ReviewLog, card: ModelCard, current: ModelCard,
                                 targets: list[TargetThreshold], who: str, reason: str) -> int:
    """Log the thresholds the targets give (core.training.operating_point.threshold_from_target); the logged
    reason carries each class's rule. Returns how many thresholds changed."""
    require_reason(reason)
    if not targets:
        raise SteelScanError("Targets", "none chosen", "choose a target for at least one class")
    rules = "; ".join(f"{t.class_name}: {t.rule}" for t in targets)
    wanted = {t.class_name: {"threshold": t.threshold} for t in targets}
    return change_class_settings(log, card, current, wanted, who, f"{reason.strip()} ({rules})")


def change_threshold(log: ReviewLog, card: ModelCard, current: ModelCard, class_name: str, threshold: float,
                     who: str, reason: str) -> int:
    """One class's threshold, as the threshold what-if applies it: through the logged change, a reason required.
    Returns how many values changed (0: that threshold is already in force)."""
    require_reason(reason)
    return change_class_settings(log, card, current, {class_name: {"threshold": threshold}}, who, reason.strip())


def require_reason(reason: str, fix: str = "say why the threshold moves: it is logged with it") -> None:
    if not (reason or "").strip():
        raise SteelScanError("Reason for the change", "is empty", fix)


def choose_active(log: ReviewLog, models_dir: Path, name: str, who: str, reason: str, previous: str = "") -> None:
    """Switch the active set for everyone; logged with who and why (a reason is required)."""
    if name not in list_model_sets(models_dir):
        raise NoModelSetError(Path(models_dir) / name, "is not installed", "pick a set listed on the Models page")
    require_reason(reason, "say why this set should run for everyone: it is logged with the switch")
    log.log_setting_change("active_model_set", name, who, model_set=name, old_value=previous, reason=reason.strip())


def create_demo_model_set(models_dir: Path) -> Path:
    """A small untrained set so the dashboard can be tried before trained weights arrive."""
    folder = Path(models_dir) / DEMO_MODEL_SET
    if folder.exists():
        raise SteelScanError(folder, "already exists", "choose it on the Models page")
    create_untrained(folder, DEMO_MODEL_SET, CLASS_NAMES, classifier_architecture="resnet18",
                     segmenter_encoder="resnet18")
    return folder


class ActiveEngine:
    """The dashboard's active model set with its logged threshold changes, for long-running services (the folder
    watcher, the HTTP API): looked up again at most every `refresh_s`, so a change made on the Models page reaches
    them within that time; the networks load again only when the weights change."""

    def __init__(self, log: ReviewLog, settings, refresh_s: float = 30.0, model_set: str | None = None) -> None:
        import threading
        import time

        self._time = time.monotonic
        self._lock = threading.Lock()  # the API's worker threads: one of them loads, the others wait
        self.log, self.settings, self.refresh_s = log, settings, refresh_s
        self.fixed = model_set  # a set named on the command line wins over the dashboard's choice
        self._base: Inspector | None = None
        self._current: Inspector | None = None
        self._checked = float("-inf")

    def _folder_and_fingerprint(self) -> tuple[Path, str]:
        if self.fixed:
            folder = Path(self.fixed) if Path(self.fixed).is_dir() else Path(self.settings.models_dir) / self.fixed
            if not folder.is_dir():
                raise NoModelSetError(folder, "is not a model set folder", HOW_TO_GET_A_MODEL_SET.format(
                    models_dir=self.settings.models_dir))
            return folder, read_card(folder).fingerprint
        chosen = resolve_active(self.log, self.settings.models_dir, self.settings.model_set)
        return chosen.folder, chosen.card.fingerprint

    def current(self) -> Inspector:
        if self._current is not None and self._time() - self._checked < self.refresh_s:
            return self._current
        with self._lock:
            return self._refresh()

    def _refresh(self) -> Inspector:
        if self._current is not None and self._time() - self._checked < self.refresh_s:
            return self._current  # another thread refreshed while this one waited
        folder, fingerprint = self._folder_and_fingerprint()
        if self._base is None or self._base.card.fingerprint != fingerprint:
            self._base = Inspector.load(folder, self.settings.device, batch_size=self.settings.batch_size,
                                        max_pixels=self.settings.max_pixels, precision=self.settings.precision)
        self._current = with_overrides(self._base, self.log.class_overrides(fingerprint))
        self._checked = self._time()
        return self._current
