"""Training internals behind `python -m core.train`: data, augmentation, loops, threshold tuning."""
