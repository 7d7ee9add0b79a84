"""core.evaluation.metrics on cases small enough to work out by hand."""

import numpy as np
import pytest

from core.evaluation.metrics import (
    classification_report,
    default_predictions,
    dice,
    f1_score_binary,
    iou,
    mask_counts,
    segmentation_report,
)


def test_multi_label_report_matches_hand_counts():
    y_true = np.array([[1, 0], [1, 1], [0, 0], [0, 1]])
    y_prob = np.array([[0.9, 0.2], [0.8, 0.4], [0.3, 0.1], [0.6, 0.7]])
    report = classification_report(y_true, y_prob, "multi-label", class_names=["a", "b"])
    # predictions at 0.5: a = [1,1,0,1] (TP 2, FP 1, FN 0), b = [0,0,0,1] (TP 1, FP 0, FN 1)
    a, b = report["per_class"]["a"], report["per_class"]["b"]
    assert a["precision"] == pytest.approx(2 / 3) and a["recall"] == 1.0 and a["f1"] == pytest.approx(0.8)
    assert b["precision"] == 1.0 and b["recall"] == 0.5 and b["f1"] == pytest.approx(2 / 3)
    assert report["macro"]["f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    # exact match: rows 0 and 2 only; defective vs clean: every row right
    assert report["accuracy"] == 0.5 and report["defective_accuracy"] == 1.0
    # a's positives (0.9, 0.8) outrank its negatives (0.3, 0.6): AUC 1; b: 0.4,0.7 vs 0.2,0.1: AUC 1
    assert a["roc_auc"] == 1.0 and b["roc_auc"] == 1.0
    assert report["per_class_confusion"]["a"] == [[1, 1], [0, 2]]
    assert report["confusion_matrix"] == [[1, 0], [0, 3]]


def test_single_label_report_counts_uncalled_rows_as_wrong():
    y_true = np.eye(3)[[0, 1, 2, 2]]
    y_prob = np.array([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
    pred = default_predictions(y_prob, "single-label", thresholds=np.array([0.5, 0.5, 0.5]))
    # row 3's top (0.4) is under its threshold: nothing called
    assert pred.tolist() == [[True, False, False], [True, False, False], [False, False, True], [False, False, False]]
    report = classification_report(y_true, y_prob, "single-label", pred, ["x", "y", "z"])
    assert report["accuracy"] == 0.5
    assert report["top1_accuracy"] == 0.75
    assert report["confusion_matrix"][1] == [1, 0, 0, 0]  # y called x
    assert report["confusion_matrix"][2] == [0, 0, 1, 1]  # one z uncalled
    assert report["per_class"]["x"]["precision"] == 0.5 and report["per_class"]["z"]["recall"] == 0.5


def test_class_never_present_nor_called_is_left_out_of_macro():
    y_true = np.array([[1, 0], [0, 0]])
    y_prob = np.array([[0.9, 0.1], [0.2, 0.2]])
    report = classification_report(y_true, y_prob, "multi-label", class_names=["a", "b"])
    assert report["per_class"]["b"]["f1"] is None and report["per_class"]["b"]["roc_auc"] is None
    assert report["macro"]["f1"] == 1.0


def test_dice_and_iou_by_hand():
    pred = np.zeros((2, 4, 4), bool)
    truth = np.zeros((2, 4, 4), bool)
    pred[0, :2, :2] = True  # 4 px
    truth[0, :2, :] = True  # 8 px, overlap 4
    counts = mask_counts(pred, truth)
    assert counts.tolist() == [[4, 4, 8], [0, 0, 0]]
    assert dice(*counts.T).tolist() == pytest.approx([8 / 12, 1.0])
    assert iou(*counts.T).tolist() == pytest.approx([4 / 8, 1.0])
    report = segmentation_report(np.stack([counts, np.array([[0, 5, 0], [0, 0, 3]])]), ["a", "b"])
    assert report["per_class"]["a"]["dice"] == pytest.approx((8 / 12 + 0.0) / 2)
    assert report["per_class"]["a"]["dice_positive"] == pytest.approx(8 / 12)
    assert report["per_class"]["b"]["dice"] == pytest.approx(0.5)  # empty-empty 1, missed 0
    assert report["per_class"]["b"]["iou_positive"] == 0.0


def test_metrics_do_not_mutate_inputs():
    y_true = np.array([[1, 0], [0, 1]])
    y_prob = np.array([[0.9, 0.1], [0.4, 0.6]])
    before = (y_true.copy(), y_prob.copy())
    classification_report(y_true, y_prob, "multi-label")
    default_predictions(y_prob, "single-label")
    assert np.array_equal(y_true, before[0]) and np.array_equal(y_prob, before[1])


def test_binary_f1_by_hand_and_the_empty_case():
    truth = np.array([1, 1, 0, 0, 1], bool)
    pred = np.array([1, 0, 1, 0, 1], bool)
    assert f1_score_binary(truth, pred) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))  # TP 2, FN 1, FP 1
    assert f1_score_binary(np.zeros(4, bool), np.zeros(4, bool)) == 1.0  # nothing to find, nothing called
    assert f1_score_binary(np.zeros(4, bool), np.array([1, 0, 0, 0], bool)) == 0.0


def test_one_class_dataset_scores_the_defect_not_the_clean_images():
    # 3 defective images of 10; the model calls 2 of them and 1 clean image.
    y_true = np.array([[1], [1], [1], [0], [0], [0], [0], [0], [0], [0]])
    y_prob = np.array([[0.9], [0.7], [0.2], [0.6], [0.1], [0.1], [0.2], [0.3], [0.05], [0.4]])
    report = classification_report(y_true, y_prob, "multi-label", class_names=["crack"])
    crack = report["per_class"]["crack"]
    assert crack["support"] == 3  # the old code reported 7: the clean images
    assert crack["precision"] == pytest.approx(2 / 3) and crack["recall"] == pytest.approx(2 / 3)
    assert crack["false_alarm_rate"] == pytest.approx(1 / 7)
    assert report["per_class_confusion"]["crack"] == [[6, 1], [1, 2]]  # [[tn, fp], [fn, tp]]


def test_image_level_ap_and_recall_at_the_chosen_thresholds():
    y_true = np.array([[1, 0], [0, 1], [0, 0], [0, 0], [1, 1]])
    y_prob = np.array([[0.5, 0.0], [0.0, 0.35], [0.45, 0.1], [0.1, 0.2], [0.9, 0.9]])
    thresholds = np.array([0.6, 0.3])
    report = classification_report(y_true, y_prob, "multi-label", class_names=["a", "b"], thresholds=thresholds)
    level = report["image_level"]
    # Calls at (0.6, 0.3): row 1 (b) and row 4; row 0's a (0.5) is under its 0.6 threshold.
    assert level["recall"] == pytest.approx(2 / 3) and level["false_alarm_rate"] == 0.0
    assert level["defective_images"] == 3 and level["clean_images"] == 2
    # Scores relative to thresholds: 0.83, 1.17, 0.75, 0.67, 3.0 -> every defective image outranks the clean: AP 1.
    assert level["ap"] == pytest.approx(1.0)
    assert report["per_class"]["a"]["threshold"] == 0.6 and report["per_class"]["a"]["recall"] == 0.5
