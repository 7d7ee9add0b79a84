"""Pixels in and out: decoding (imageio), Severstal run-length codes (rle), overlays (render). No torch."""
