"""Faster CPU inference for an embedding model: ONNX Runtime or OpenVINO, fp32 or int8.

Sentence-transformers' own ``backend="onnx"|"openvino"`` loads through Optimum
(optimum-onnx, optimum-intel), and every release of those pins transformers < 5.6,
below the 5.x this project runs: they cannot be installed beside it. So the
transformer part of a model is exported here, from the packaged weights, with
``torch.onnx.export`` (nothing is downloaded), cached under ``RAG_DATA_DIR/models``,
and run by ONNX Runtime (optionally int8 dynamically quantized by its own
quantizer) or by OpenVINO (reading the same ONNX file). The rest of the model
(tokenizer, pooling, normalisation, length-sorted batching) stays the
sentence-transformers pipeline: :class:`RuntimeTransformer` only replaces the
``transformers`` model inside its first module.
"""

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from ragplatform import runtime

ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cache_dir(path: str) -> Path:
    """Where the exports of the model at ``path`` live: named by the path and its weights' size and time.

    A different model copied to the same path gets a new folder, never a stale export.
    """
    root = Path(path).resolve()
    stamp = [str(root)]
    for name in sorted(os.listdir(root)):
        if name.endswith((".safetensors", ".bin")):
            stat = (root / name).stat()
            stamp.append(f"{name}:{stat.st_size}:{int(stat.st_mtime)}")
    digest = hashlib.sha256("\n".join(stamp).encode()).hexdigest()[:16]
    folder = runtime.data_dir() / "models" / f"{root.name}-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def _exclusive(folder: Path):
    """One process exports at a time (two workers starting together); the others wait, then reuse."""
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class _LastHiddenState(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state


def onnx_export(*, transformers_model, tokenizer, folder: Path, precision: str) -> Path:
    """The model's ONNX file for ``precision`` (``fp32`` or ``int8``), exported on first use.

    Written to a temporary name and renamed, so a killed export never leaves half a file.
    """
    target = folder / ("model.onnx" if precision == "fp32" else "model_int8.onnx")
    if target.exists():
        return target
    with _exclusive(folder):
        if target.exists():
            return target
        fp32 = folder / "model.onnx"
        if not fp32.exists():
            sample = tokenizer(["an example", "a second, longer example"], padding=True, return_tensors="pt")
            inputs = tuple(sample.get(name, torch.zeros_like(sample["input_ids"])) for name in ONNX_INPUTS)
            partial = folder / "model.onnx.partial"
            torch.onnx.export(
                _LastHiddenState(transformers_model).eval(),
                inputs,
                str(partial),
                input_names=list(ONNX_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*ONNX_INPUTS, "last_hidden_state")},
                opset_version=17,
                dynamo=False,
            )
            os.replace(partial, fp32)
        if precision == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            partial = folder / "model_int8.onnx.partial"
            # Weights per output channel; MatMul only (the embedding lookups stay fp32). reduce_range keeps
            # AVX2 CPUs without VNNI clear of the u8 x s8 saturation ONNX Runtime documents.
            quantize_dynamic(
                str(fp32),
                str(partial),
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=True,
                op_types_to_quantize=["MatMul"],
            )
            os.replace(partial, target)
    return target


class RuntimeTransformer(torch.nn.Module):
    """Stands in for the ``transformers`` model inside sentence-transformers' Transformer module.

    Takes the tokenizer's tensors and returns ``last_hidden_state`` as the torch
    model would, computed by ONNX Runtime or OpenVINO.
    """

    def __init__(self, *, onnx_file: Path, backend: str, device: str, config):
        super().__init__()
        self.backend = backend
        self.config = config  # the transformers config sentence-transformers reads (model type, window)
        self.device = torch.device("cpu")  # outputs come back as CPU tensors whatever runs them
        if backend == "onnx":
            import onnxruntime

            providers = ["CPUExecutionProvider"]
            if device.startswith("cuda") and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
                providers.insert(0, "CUDAExecutionProvider")
            options = onnxruntime.SessionOptions()
            # As many threads as torch would use, and no busy-waiting between runs: a worker shares its CPU
            # with parsing and the database, and spinning threads would take it from them.
            options.intra_op_num_threads = torch.get_num_threads()
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = onnxruntime.InferenceSession(str(onnx_file), options, providers=providers)
            self._inputs = [i.name for i in self._session.get_inputs()]
        elif backend == "openvino":
            import openvino

            core = openvino.Core()
            core.set_property("CPU", {"CACHE_DIR": str(onnx_file.parent / "openvino-cache")})
            core.set_property("CPU", {"INFERENCE_NUM_THREADS": torch.get_num_threads()})
            # OpenVINO's "GPU" is an Intel GPU: a CUDA device is not one, so OpenVINO always runs on the CPU.
            self._compiled = core.compile_model(str(onnx_file), "CPU")
            self._inputs = [i.get_any_name() for i in self._compiled.inputs]
        else:
            raise ValueError(f"unknown backend {backend!r}")

    def forward(self, input_ids, attention_mask, token_type_ids=None, **_):
        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        feed = {
            name: (given[name] if given[name] is not None else torch.zeros_like(input_ids))
            .cpu()
            .numpy()
            .astype(np.int64)
            for name in self._inputs
        }
        if self.backend == "onnx":
            hidden = self._session.run(["last_hidden_state"], feed)[0]
        else:
            # A request per call: one request is not safe to share between threads.
            hidden = self._compiled.create_infer_request().infer(feed)[self._compiled.output(0)]
        return {"last_hidden_state": torch.from_numpy(np.ascontiguousarray(hidden))}
