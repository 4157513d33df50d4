"""Repository-wide pytest settings for `pytest claims/` and `pytest tests/`.

One torch thread per process (xdist workers included) and no network calls to a model hub: both
must hold before torch or any Hugging Face library is imported.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("INTERPCLAIMS_TORCH_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
