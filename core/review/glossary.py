"""One line for each word of the trade the pages show (st.caption or help=), so every page explains it alike."""

from __future__ import annotations

TERMS = {
    "flagged": "Flagged: the model called a defect, or a class probability lies within the uncertainty band of its "
               "threshold, or the sheet looks unlike the model's training images (out of domain).",
    "distance": "Distance: how far a class probability is from its threshold; small means the model was unsure.",
    "margin": "Margin: the smallest distance between any class probability and its threshold; the queue shows the "
              "smallest margins first, the sheets the model was least sure about.",
    "out_of_domain": "Out of domain: the sheet looks unlike every image the model was trained on (further from them "
                     "than almost all training images are), so its verdict deserves less trust.",
    "agreement": "Agreement: share of reviewed sheets where the inspector's label and the model agree on this class.",
    "missed": "Model missed: the inspector says present, the model said absent.",
    "false_alarm": "False alarm: the model said present, the inspector says absent.",
}
