"""Sketch-a-Net classifier for the Rec metric, and the project's one rasteriser.

raster.py   absolute sketches -> 48x48 ink images / PNGs (numpy only)
model.py    Sketch-a-Net adapted to 48x48 inputs (tf.Module)
train.py    python -m sketch_a_net.train: train on real sketches
evaluate.py python -m sketch_a_net.evaluate: Rec on generated sketches

Only the numpy rasteriser is imported here, so drawing needs no TensorFlow.
"""
from sketch_a_net.raster import rasterize, rasterize_many, save_png

__all__ = ["rasterize", "rasterize_many", "save_png"]
