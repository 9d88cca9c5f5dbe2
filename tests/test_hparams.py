"""hparams: the original --hparams syntax, presets, JSON round trip, clear errors."""
import dataclasses

import pytest

import hparams


def test_defaults_are_paper_configuration():
    hps = hparams.HParams()
    assert (hps.enc_model, hps.enc_rnn_size, hps.dec_model, hps.dec_rnn_size, hps.z_size) == (
        "lstm", 512, "hyper", 512, 128)
    assert hps.batch_size == 100 and hps.recurrent_dropout_prob == 0.9
    assert hps.piece_len == 6 and hps.num_graphs == 9 and hps.dec_num_mixture == 20
    assert hps.re_scale == 0.0


def test_parse_original_syntax():
    hps = hparams.parse("categories=[bee,bus],z_size=64,use_recurrent_dropout=False,learning_rate=5e-4")
    assert hps.categories == ["bee", "bus"]
    assert hps.z_size == 64 and hps.use_recurrent_dropout is False and hps.learning_rate == 5e-4


def test_parse_quoted_names_with_spaces():
    hps = hparams.parse("categories=['The Great Wall', \"alarm clock\", pig],batch_size=8")
    assert hps.categories == ["The Great Wall", "alarm clock", "pig"]
    assert hps.batch_size == 8


def test_preset_then_overrides_in_any_order():
    hps = hparams.parse("z_size=16,preset=small")
    assert (hps.enc_rnn_size, hps.dec_rnn_size, hps.z_size) == (64, 128, 16)
    assert hparams.parse("preset=paper") == hparams.HParams()


@pytest.mark.parametrize("text, key", [
    ("zsize=3", "zsize"), ("z_size=1.5", "z_size"), ("use_recurrent_dropout=maybe", "use_recurrent_dropout"),
    ("categories=pig", "categories"), ("learning_rate=fast", "learning_rate"), ("preset=huge", "huge"),
])
def test_bad_entries_name_the_key(text, key):
    with pytest.raises(hparams.HParamsError, match=key):
        hparams.parse(text)


def test_json_round_trip(tmp_path):
    hps = hparams.parse("categories=['The Great Wall',bus],z_size=7,re_scale=0.3,jit_compile=True")
    path = tmp_path / "model_config.json"
    hparams.save(hps, str(path), scale_factor=18.5, sketches_cut=3)
    loaded, extra = hparams.load(str(path))
    assert loaded == hps
    assert extra == {"scale_factor": 18.5, "sketches_cut": 3}
    with pytest.raises(hparams.HParamsError, match="max_seq_len"):
        hparams.save(hps, str(path), max_seq_len=250)


def test_diff_lists_changed_keys():
    a = hparams.HParams()
    b = dataclasses.replace(a, z_size=3, batch_size=2)
    assert hparams.diff(a, b) == {"z_size": (128, 3), "batch_size": (100, 2)}
    assert hparams.diff(a, b, ignore=("batch_size",)) == {"z_size": (128, 3)}
