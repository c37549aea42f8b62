"""The published MEG-XL weights as a neuroseq MEG-XL run, and a check that the converted model
computes what the official code computes.

Inputs are the official formats (neural-processing-lab/MEG-XL, commit 58dc31c; weights on the
Hugging Face hub as ``pnpl/MEG-XL``): a Lightning checkpoint (``hyper_parameters`` and
``state_dict`` of ``CrissCrossTransformerModule``) and the BioCodec file
``{"model_state_dict": …}`` (keys may carry ``_orig_mod.``).  Both load with
``weights_only=True``.  The codec's architecture is read from its weights' shapes (the file holds
no hyper-parameters); the transformer's from the checkpoint's ``hyper_parameters``.  Every
official key is mapped (table: ``docs/megxl_weights.md``); the RoPE tables are recomputed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuroseq.errors import DataError
from neuroseq.models.crisscross import CrissCross
from neuroseq.tokenizers import RVQCodec
from neuroseq.training.run_folder import RunFolder

#: official codec key → ours (regular expressions, first match wins)
CODEC_KEYS: list[tuple[str, str]] = [
    (r"^(encoder|decoder)\.model\.(\d+)\.conv\.conv\.(.+)$", r"\1.net.\2.conv.\3"),
    (r"^(encoder|decoder)\.model\.(\d+)\.block\.(\d+)\.conv\.conv\.(.+)$",
     r"\1.net.\2.block.\3.conv.\4"),
    (r"^(encoder|decoder)\.model\.(\d+)\.lstm\.(.+)$", r"\1.net.\2.lstm.\3"),
    (r"^decoder\.model\.(\d+)\.convtr\.convtr\.(.+)$", r"decoder.net.\1.conv.\2"),
    (r"^quantizer\.vq\.layers\.(\d+)\.(project_in|project_out)\.(.+)$",
     r"quantizer.levels.\1.\2.\3"),
    (r"^quantizer\.vq\.layers\.(\d+)\._codebook\.(embed|embed_avg|cluster_size|inited)$",
     r"quantizer.levels.\1.\2"),
]
_BLOCK = r"^criss_cross_transformer\.layers\.(\d+)\."
#: official transformer key → ours
BACKBONE_KEYS: list[tuple[str, str]] = [
    (r"^rvq_projector\.(.+)$", r"project.\1"),
    (r"^mask_token$", "mask_token"),
    (r"^position_fourier_emb\.B$", "sensors.pos_ff.basis"),
    (r"^orientation_fourier_emb\.B$", "sensors.ori_ff.basis"),
    (r"^position_projector\.(.+)$", r"sensors.pos.\1"),
    (r"^orientation_projector\.(.+)$", r"sensors.ori.\1"),
    (r"^sensor_type_layer\.weight$", "sensors.kind.weight"),
    (_BLOCK + r"pre_attn_norm\.weight$", r"blocks.\1.n1.weight"),
    (_BLOCK + r"pre_ff_norm\.weight$", r"blocks.\1.n2.weight"),
    (_BLOCK + r"time_attn\.qkv\.(.+)$", r"blocks.\1.attn.qkv_t.\2"),
    (_BLOCK + r"time_attn\.proj\.(.+)$", r"blocks.\1.attn.out_t.\2"),
    (_BLOCK + r"spatial_attn\.qkv\.(.+)$", r"blocks.\1.attn.qkv_s.\2"),
    (_BLOCK + r"spatial_attn\.proj\.(.+)$", r"blocks.\1.attn.out_s.\2"),
    (_BLOCK + r"ff\.layer\.(0|2)\.(.+)$", r"blocks.\1.ffn.\2.\3"),
    (r"^output_head\.(.+)$", r"head.\1"),
]
#: official keys recomputed rather than loaded (deterministic RoPE tables)
RECOMPUTED = re.compile(_BLOCK + r"time_attn\.rope_embedding_layer\.(freqs|rotate)$")
#: MEG-XL's data rate (its preprocessing resamples to 50 Hz)
OFFICIAL_SFREQ = 50.0


def _load(path: str | Path, what: str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist; download it first (see the README, "
                        "'Using the published MEG-XL weights').")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        raise DataError(f"{what} {path} cannot be read as a PyTorch file with "
                        f"weights_only=True ({type(err).__name__}: {str(err)[:200]}); is it "
                        "the official file, downloaded completely?") from err


def _remap(state: dict[str, torch.Tensor], rules: list[tuple[str, str]],
           target: dict[str, torch.Tensor], what: str, skip: re.Pattern | None = None
           ) -> dict[str, torch.Tensor]:
    """Rename ``state`` by ``rules`` into ``target``'s keys; every official key mapped, every
    target key filled, every shape equal, or an error listing what is not."""
    out, unmapped, bad = {}, [], []
    for key, value in state.items():
        if skip is not None and skip.match(key):
            continue
        new = next((re.sub(pat, rep, key) for pat, rep in rules if re.match(pat, key)), None)
        if new is None or new not in target:
            unmapped.append(key if new is None else f"{key} → {new} (no such parameter)")
            continue
        if tuple(value.shape) != tuple(target[new].shape):
            bad.append(f"{key} {tuple(value.shape)} vs {new} {tuple(target[new].shape)}")
            continue
        out[new] = value.to(target[new].dtype)
    missing = sorted(set(target) - set(out))
    if unmapped or bad or missing:
        parts = [f"{name}: {', '.join(items[:8])}{' …' if len(items) > 8 else ''}"
                 for name, items in (("unmapped official keys", unmapped),
                                     ("mis-shaped", bad), ("missing", missing)) if items]
        raise DataError(f"{what} does not match the official layout — " + "; ".join(parts))
    return out


def codec_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The BioCodec file's weights, ``_orig_mod.`` prefixes removed."""
    raw = _load(path, "the BioCodec file")
    if not isinstance(raw, dict) or "model_state_dict" not in raw:
        raise DataError(f"{path} has no 'model_state_dict': not a BioCodec checkpoint "
                        "(brainstorm/neuro_tokenizers/biocodec_ckpt.pt of the official repo).")
    return {k.removeprefix("_orig_mod."): v for k, v in raw["model_state_dict"].items()}


def codec_arch(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """BioCodec's architecture read from its weights' shapes."""
    enc = {int(m.group(1)): k for k in state
           if (m := re.match(r"^encoder\.model\.(\d+)\.conv\.conv\..*original1$", k))}
    if not enc:
        raise DataError("the BioCodec file holds no encoder convolutions "
                        "(encoder.model.N.conv.conv.*); not a BioCodec checkpoint.")
    idx = sorted(enc)
    w = [state[enc[i]] for i in idx]
    down = idx[1:-1]  # the first and last convolutions frame the downsampling ones
    strides = [int(state[enc[i]].shape[-1]) // 2 for i in down]
    blocks = {int(m.group(1)) for k in state
              if (m := re.match(r"^encoder\.model\.(\d+)\.block\.", k))}
    n_residual = sum(1 for b in blocks if b < down[0]) if down else 0
    hidden = state[f"encoder.model.{min(blocks)}.block.1.conv.conv.parametrizations.weight."
                   "original1"].shape[0] if blocks else w[0].shape[0]
    levels = sorted({int(m.group(1)) for k in state
                     if (m := re.match(r"^quantizer\.vq\.layers\.(\d+)\.", k))})
    embed = state["quantizer.vq.layers.0._codebook.embed"]
    lstm = {int(m.group(1)) for k in state
            if (m := re.match(r"^encoder\.model\.\d+\.lstm\.weight_ih_l(\d+)$", k))}
    return {"dim": int(w[-1].shape[0]), "base": int(w[0].shape[0]), "strides": strides,
            "n_residual": n_residual, "lstm_layers": len(lstm), "n_q": len(levels),
            "codebook_size": int(embed.shape[0]), "codebook_dim": int(embed.shape[1]),
            "compress": int(w[0].shape[0]) // int(hidden), "layout": "official"}


def load_official_codec(path: str | Path, sfreq: float = OFFICIAL_SFREQ) -> RVQCodec:
    """The BioCodec file as a frozen :class:`~neuroseq.tokenizers.RVQCodec` (official layout)."""
    state = codec_state(path)
    codec = RVQCodec("biocodec_official", **codec_arch(state))
    codec.load_state_dict(_remap(state, CODEC_KEYS, codec.state_dict(),
                                 f"the BioCodec file {path}"))
    codec.sfreq, codec.fitted = float(sfreq), True
    return codec


def load_official_backbone(path: str | Path, codec: RVQCodec
                           ) -> tuple[CrissCross, dict[str, Any]]:
    """The Lightning checkpoint as a :class:`CrissCross` (official layout) and its
    hyper-parameters; its embedded tokenizer weights, when present, must equal ``codec``'s."""
    raw = _load(path, "the MEG-XL checkpoint")
    if not isinstance(raw, dict) or not {"state_dict", "hyper_parameters"} <= set(raw):
        raise DataError(f"{path} is not a Lightning checkpoint with 'hyper_parameters' and "
                        "'state_dict' (the MEG-XL checkpoint from pnpl/MEG-XL).")
    hp, state = dict(raw["hyper_parameters"]), raw["state_dict"]
    n_q, size, dim = codec.codebook_vectors().shape
    if int(hp.get("vocab_size", 256)) != size:
        raise DataError(f"the checkpoint's vocab_size {hp.get('vocab_size')} differs from the "
                        f"BioCodec file's codebook size {size}: use the codec it was trained with.")
    fourier = int(hp.get("fourier_pos_dim", 250))
    model = CrissCross(n_levels=n_q, codebook_size=size, code_dim=dim,
                       d_model=int(hp.get("latent_dim", 512)),
                       n_layers=int(hp.get("num_layers", 8)), n_heads=int(hp.get("num_heads", 8)),
                       dropout=0.1, preset=None, layout="official", n_fourier=fourier // 2)
    tok = {k.removeprefix("tokenizer."): v for k, v in state.items() if k.startswith("tokenizer.")}
    ours = codec.state_dict()
    mapped = _remap(tok, CODEC_KEYS, ours, f"the checkpoint's tokenizer in {path}") if tok else {}
    differ = [k for k, v in mapped.items() if not torch.equal(v, ours[k])]
    if differ:
        raise DataError(f"the checkpoint's embedded tokenizer differs from the BioCodec file in "
                        f"{len(differ)} tensors (e.g. {differ[0]}); pass the codec it was "
                        "trained with.")
    books = [state.pop(f"biocodec_embedding_{q}", None) for q in range(n_q)]
    rest = {k: v for k, v in state.items() if not k.startswith(("tokenizer.", "biocodec_emb"))}
    target = {k: v for k, v in model.state_dict().items() if k != "codebooks"}
    model.load_state_dict(_remap(rest, BACKBONE_KEYS, target, f"the MEG-XL checkpoint {path}",
                                 skip=RECOMPUTED) | {"codebooks": model.codebooks}, strict=True)
    if any(b is None for b in books):
        raise DataError(f"{path} lacks biocodec_embedding_0…{n_q - 1} (the frozen codebooks).")
    model.set_codebooks(torch.stack(books).float())
    if not torch.allclose(model.codebooks, codec.codebook_vectors()):
        raise DataError("the checkpoint's codebooks differ from the BioCodec file's; pass the "
                        "codec it was trained with.")
    return model.eval(), hp


def convert_megxl(checkpoint: str | Path, codec: str | Path, out: str | Path,
                  sfreq: float = OFFICIAL_SFREQ) -> RunFolder:
    """Write a neuroseq MEG-XL run (``tokenizer/``, ``model/``, ``meta.json``, ``run.json``)
    from the two official files."""
    tok = load_official_codec(codec, sfreq)
    model, hp = load_official_backbone(checkpoint, tok)
    folder = RunFolder(out).create()
    folder.save_tokenizer(tok)
    model.save_pretrained(folder.model_dir)
    folder.write_meta({"system": "megxl", "stage": "pretrain", "model_kind": "crisscross",
                       "layout": "official", "sfreq": float(sfreq), "n_levels": tok.n_levels,
                       "vocab_size": tok.vocab_size, "converted_from": {
                           "checkpoint": str(Path(checkpoint).resolve()),
                           "codec": str(Path(codec).resolve())}})
    folder.write_info({"hyper_parameters": {k: v for k, v in hp.items()
                                            if isinstance(v, int | float | str | bool)},
                       "codec_arch": tok.config()})
    return folder


def check_megxl(run: str | Path, ref: str | Path, rtol: float = 1e-4) -> dict[str, Any]:
    """Compare a converted run's forward with the official one's saved in ``ref`` (``meg``,
    ``sensor_xyz``, ``sensor_abc``, ``sensor_types``, ``sensor_mask``, ``features``, optionally
    ``codes``): the largest absolute and relative difference at real sensors, whether the codes
    are equal, and ``ok``."""
    try:
        z = dict(np.load(ref))
    except Exception as err:  # noqa: BLE001
        raise DataError(f"{ref} cannot be read as an .npz file ({err}).") from err
    need = {"meg", "sensor_xyz", "sensor_abc", "sensor_types", "sensor_mask", "features"}
    if need - set(z):
        raise DataError(f"{ref} lacks {sorted(need - set(z))} (see `neuroseq convert megxl "
                        "--help` for what a reference holds).")
    folder = RunFolder(run)
    codec, model = folder.tokenizer(), CrissCross.from_pretrained(folder.model_dir).eval()
    meg = torch.as_tensor(z["meg"], dtype=torch.float32)
    mask = torch.as_tensor(z["sensor_mask"]).bool()
    with torch.no_grad():
        codes = codec.encode(meg)  # [B, C, Q, T']
        sensors = {"official_xyz": torch.as_tensor(z["sensor_xyz"], dtype=torch.float32),
                   "official_dir": torch.as_tensor(z["sensor_abc"], dtype=torch.float32),
                   "official_type": torch.as_tensor(z["sensor_types"]).long()}
        feats = model(codes, sensors, mask)["hidden"].numpy()
    ref_f = z["features"].astype(np.float32)
    if feats.shape != ref_f.shape:
        raise DataError(f"features have shape {feats.shape} here but {ref_f.shape} in {ref}.")
    real = z["sensor_mask"].astype(bool)
    diff = np.abs(feats - ref_f)[real]
    scale = np.abs(ref_f[real]).max()
    out = {"max_abs_diff": float(diff.max()), "max_rel_diff": float(diff.max() / max(scale, 1e-12)),
           "rtol": rtol, "n_real_sensors": int(real.sum())}
    if "codes" in z:
        ours = codes.permute(0, 1, 3, 2).numpy()  # official layout [B, C, T', Q]
        out["codes_equal"] = bool(ours.shape == z["codes"].shape and
                                  np.array_equal(ours[real], z["codes"][real]))
    out["ok"] = out["max_rel_diff"] <= rtol and out.get("codes_equal", True)
    return out


