"""Fine-tuning CLIP on the user's albums: data, loss, trainer, WiSE-FT, the model registry.

Importing this package does not import torch; the trainer does, when it runs.
"""

from __future__ import annotations
