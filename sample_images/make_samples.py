"""Regenerate sample_images/ from the project's own synthetic generator (nothing from elsewhere).

    python sample_images/make_samples.py
"""

from pathlib import Path

from core.datasets.synthetic import write_dataset

# seed -> classes (0-based: pits, crazing, scratches, patches); seeds far from any training range.
SAMPLES = {
    900001: (), 900002: (), 900003: (),
    900011: (0,), 900012: (1,), 900013: (2,), 900014: (3,),
    900021: (0,), 900022: (2,), 900023: (3,),
    900031: (0, 2), 900032: (1, 3), 900033: (2, 3),
}

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    labels = write_dataset(here, list(SAMPLES), classes_for=SAMPLES)
    print(f"wrote {len(labels)} strips to {here / 'train_images'} with train.csv")
