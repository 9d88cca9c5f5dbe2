"""Sketch-a-Net (Yu et al., 2015/2017) for 48x48 single-channel sketch renders.

The paper's network reads 225x225 images:

    conv 15x15/3 64 - maxpool 3/2 - conv 5x5 128 - maxpool 3/2
    - conv 3x3 256 (x3, same) - maxpool 3/2 - conv 7x7 512 (FC) + dropout 0.5
    - conv 1x1 512 + dropout 0.5 - conv 1x1 classes

Our renders are 48x48 (the size of the generated PNGs), about 4.7 times
smaller, so the early large-stride stages are scaled down:

    ======  ===========================  =========  ============
    layer   here                         paper      output here
    ======  ===========================  =========  ============
    L1      conv 5x5/1 same, relu        15x15/3    48x48xC1
            maxpool 2/2                  3/2        24x24
    L2      conv 3x3/1 same, relu        5x5        24x24xC2
            maxpool 2/2                  3/2        12x12
    L3-L5   conv 3x3/1 same x3, relu     3x3 x3     12x12xC3
            maxpool 2/2                  3/2        6x6
    L6      conv 6x6 valid (FC), relu,   7x7        1x1xC6
            dropout 0.5
    L7      conv 1x1, relu, dropout 0.5  1x1        1x1xC7
    L8      conv 1x1 -> logits           1x1        classes
    ======  ===========================  =========  ============

* The first conv loses its stride 3: the 48x48 canvas already has the
  resolution the paper reaches after its first stage (71x71).
* Pools are 2/2 (not overlapping 3/2) so that 48 halves exactly to 6 and the
  "FC" conv L6 covers the whole 6x6 map, as the paper's 7x7 conv does.
* Convs use same padding so the 1-pixel lines at the border survive.
* Widths: the paper's are (64, 128, 256, 256, 256, 512, 512); every width is
  multiplied by ``width_multiplier`` (``PAPER_WIDTH = 1.0`` gives them back).
  ``CPU_WIDTH = 0.25`` (16, 32, 64, 64, 64, 128, 128; about 0.4 M weights,
  16 M multiply-adds per image) is the default: it trains to its plateau on
  a few thousand sketches in a couple of minutes on 2 CPU cores.
* No batch normalisation, as in the paper; He-normal initialisation.
* Single channel, single scale (the paper's multi-channel / multi-scale
  ensemble is not reproduced).

Inputs are float images with ink 1.0 on background 0.0 (``raster.py``).
"""
from typing import List, Tuple

import tensorflow as tf

PAPER_WIDTHS = (64, 128, 256, 256, 256, 512, 512)
PAPER_WIDTH = 1.0
CPU_WIDTH = 0.25


def layer_widths(width_multiplier: float) -> Tuple[int, ...]:
    """Return the seven hidden widths for a width multiplier (at least 4 each)."""
    if width_multiplier <= 0:
        raise ValueError(f"width_multiplier must be > 0, got {width_multiplier}")
    return tuple(max(4, int(round(w * width_multiplier))) for w in PAPER_WIDTHS)


class SketchANet(tf.Module):
    """Sketch-a-Net adapted to small square inputs (see the module docstring)."""

    def __init__(self, num_classes: int, width_multiplier: float = CPU_WIDTH,
                 image_size: int = 48, seed: int = 0, name: str = "sketch_a_net"):
        super().__init__(name=name)
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {image_size}")
        self.num_classes = int(num_classes)
        self.image_size = int(image_size)
        self.width_multiplier = float(width_multiplier)
        c1, c2, c3, c4, c5, c6, c7 = layer_widths(width_multiplier)
        fc = image_size // 8  # map size after the three 2/2 pools
        shapes = [(5, 1, c1), (3, c1, c2), (3, c2, c3), (3, c3, c4), (3, c4, c5),
                  (fc, c5, c6), (1, c6, c7), (1, c7, num_classes)]
        init = tf.keras.initializers.HeNormal(seed=seed)
        with self.name_scope:
            self.kernels: List[tf.Variable] = [
                tf.Variable(init((k, k, cin, cout)), name=f"conv{i + 1}_kernel")
                for i, (k, cin, cout) in enumerate(shapes)]
            self.biases: List[tf.Variable] = [
                tf.Variable(tf.zeros([cout]), name=f"conv{i + 1}_bias")
                for i, (_, _, cout) in enumerate(shapes)]

    def _conv(self, x: tf.Tensor, i: int, padding: str = "SAME") -> tf.Tensor:
        """Apply conv layer i (0-based) with stride 1."""
        return tf.nn.conv2d(x, self.kernels[i], 1, padding) + self.biases[i]

    def __call__(self, images: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Map images [B, H, W] or [B, H, W, 1] to logits [B, num_classes]."""
        x = tf.convert_to_tensor(images, tf.float32)
        if x.shape.rank == 3:
            x = x[..., None]
        pool = lambda t: tf.nn.max_pool2d(t, 2, 2, "VALID")  # noqa: E731
        x = pool(tf.nn.relu(self._conv(x, 0)))
        x = pool(tf.nn.relu(self._conv(x, 1)))
        for i in (2, 3, 4):
            x = tf.nn.relu(self._conv(x, i))
        x = pool(x)
        x = tf.nn.relu(self._conv(x, 5, "VALID"))
        if training:
            x = tf.nn.dropout(x, 0.5)
        x = tf.nn.relu(self._conv(x, 6))
        if training:
            x = tf.nn.dropout(x, 0.5)
        return tf.reshape(self._conv(x, 7), [-1, self.num_classes])
