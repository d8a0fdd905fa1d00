import json

import pytest
import torch

from core.model.checkpoint import METADATA_FILE, WEIGHTS_FILE, CheckpointError, load_checkpoint, save_checkpoint
from core.model.models import build_model


def test_round_trip_keeps_every_tensor_and_records_the_hash(tmp_path):
    model = build_model("custom_cnn", 4)
    metadata = save_checkpoint(tmp_path, model.state_dict(), {"architecture": "custom_cnn"})
    state, loaded = load_checkpoint(tmp_path)
    assert loaded == metadata and len(metadata["weights_sha256"]) == 64
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value), key
    assert not list(tmp_path.glob("*.tmp"))


def test_a_changed_weights_file_is_refused(tmp_path):
    save_checkpoint(tmp_path, build_model("custom_cnn", 4).state_dict(), {})
    data = bytearray((tmp_path / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        load_checkpoint(tmp_path)


def test_missing_or_broken_files_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match=r"model\.safetensors is missing"):
        load_checkpoint(tmp_path)
    save_checkpoint(tmp_path, {"w": torch.zeros(2)}, {})
    (tmp_path / METADATA_FILE).write_text("{ not json")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path)


def test_weights_file_holds_no_pickle(tmp_path):
    save_checkpoint(tmp_path, {"w": torch.ones(3)}, {"note": "x"})
    header_length = int.from_bytes((tmp_path / WEIGHTS_FILE).read_bytes()[:8], "little")
    header = json.loads((tmp_path / WEIGHTS_FILE).read_bytes()[8 : 8 + header_length])
    assert header["w"]["dtype"] == "F32"  # a safetensors header: JSON, then raw tensor bytes
