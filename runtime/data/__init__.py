"""Data providers: a training split and a validation split of uint8 images with integer labels.

Three sources, chosen by `open_data(spec)`:
- the embedded default, Fashion-MNIST from the Debian package `dataset-fashion-mnist` (IDX files),
- cuda-convnet's CIFAR-10 python batches (`data_batch_1..5`, `test_batch`),
- an image-folder tree `ROOT/train/<class>/*.jpg`, `ROOT/val/<class>/*.jpg` (ImageNet's layout),
  decoded with Pillow, optionally packed once into uint8 shards.

Every split gives images as a uint8 tensor `(B, C, h, w)`; the augmentation pipeline scales them to
the working size (`imgSize`), so a split may store them smaller (28x28 Fashion-MNIST) or already at
the working size (folders, shards).
"""

from __future__ import annotations

from alexspec.runtime.data.base import DataSource, Split, TensorSplit, open_data

__all__ = ["DataSource", "Split", "TensorSplit", "open_data"]
