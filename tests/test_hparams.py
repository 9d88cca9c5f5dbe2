"""hparams: the original --hparams syntax, presets, JSON round trip, clear errors."""
import dataclasses
import json

import pytest

import hparams
from conftest import readme_block


def test_defaults_are_paper_configuration():
    hps = hparams.HParams()
    assert (hps.enc_model, hps.enc_rnn_size, hps.dec_model, hps.dec_rnn_size, hps.z_size) == (
        "lstm", 512, "hyper", 512, 128)
    assert hps.batch_size == 100 and hps.recurrent_dropout_prob == 0.9
    assert hps.num_graphs == 9 and hps.dec_num_mixture == 20
    assert hps.re_scale == 0.0
    # Computed from the data, as the original's README sets them; nodes are whole strokes.
    assert (hps.max_seq_len, hps.max_stroke_len, hps.max_strokes_num) == (-1, -1, -1)
    assert not hps.use_input_dropout and not hps.use_output_dropout


# METHOD.md §12: the keys of the original README's hyper-parameter block, which users paste.
README_KEYS = """categories, num_steps, re_scale, save_every, dec_rnn_size, enc_model,
enc_rnn_size, dec_model, max_seq_len, max_stroke_len, max_strokes_num,
z_size, batch_size, num_mixture, learning_rate, decay_rate,
min_learning_rate, grad_clip, de_weight, use_recurrent_dropout,
recurrent_dropout_prob, use_input_dropout, input_dropout_prob,
use_output_dropout, output_dropout_prob, random_scale_factor,
augment_stroke_prob, is_training, num_per_category""".replace("\n", " ").split(", ")


def test_readme_block_has_every_original_key_and_parses():
    block = readme_block()
    keys = [part.split("=")[0] for part in hparams.split_top(block)]
    assert sorted(keys) == sorted(README_KEYS)
    hps = hparams.parse(block)
    assert hps.categories == hparams.DATASETS[1]
    assert (hps.max_stroke_len, hps.max_strokes_num, hps.re_scale) == (-1, -1, 0.3)
    # The keys without effect are announced, one line each.
    notes = hparams.no_effect_notices(hps)
    assert len(notes) == 1 and notes[0].startswith("note: de_weight=0.5 has no effect")


def test_no_effect_keys_are_announced_only_when_changed():
    assert hparams.no_effect_notices(hparams.HParams()) == []
    notes = hparams.no_effect_notices(hparams.parse("num_mixture=4,is_training=False"))
    assert [n.split("=")[0] for n in notes] == ["note: num_mixture", "note: is_training"]
    assert "dec_num_mixture (20)" in notes[0]


def test_pieces_preset_is_the_six_point_variant():
    assert hparams.parse("preset=small,preset=pieces").max_stroke_len == 5
    both = hparams.parse("preset=small,preset=pieces")
    assert both.enc_rnn_size == hparams.parse("preset=small").enc_rnn_size


def test_toplevel_preset_changes_exactly_the_top_level_variants_values():
    # docs/DIFFERENCES.md: the original's top-level trainer, everything but its greedy sampler.
    hps = hparams.validate(hparams.parse("preset=toplevel"))
    changed = {k: v for k, v in dataclasses.asdict(hps).items()
               if v != getattr(hparams.HParams(), k)}
    assert changed == {"max_stroke_len": 5, "enc_rnn_size": 256, "z_size": 64, "batch_size": 300,
                       "decay_rate": 0.9999, "use_recurrent_dropout": False,
                       "random_scale_factor": 0.0, "augment_stroke_prob": 0.0}


def test_old_piece_len_is_refused_with_its_new_name():
    with pytest.raises(hparams.HParamsError, match="max_stroke_len = piece_len - 1"):
        hparams.parse("piece_len=6")


def test_old_config_loads_with_its_old_meaning(tmp_path):
    """A model_config.json written before stroke nodes (piece_len = 6 points) keeps 6-point nodes."""
    values = dataclasses.asdict(hparams.HParams())
    del values["max_stroke_len"]
    values.update(piece_len=6, max_seq_len=250, max_strokes_num=93, scale_factor=18.5)
    path = tmp_path / "model_config.json"
    path.write_text(json.dumps(values))
    hps, extra = hparams.load(str(path))
    assert hps.max_stroke_len == 5 and hps.max_strokes_num == 93
    assert extra == {"scale_factor": 18.5}
    values["max_stroke_len"] = 5
    path.write_text(json.dumps(values))
    with pytest.raises(hparams.HParamsError, match="both 'piece_len'"):
        hparams.load(str(path))


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
    assert (hps.enc_rnn_size, hps.dec_rnn_size, hps.z_size) == (256, 128, 16)
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


# ---- memory: a model that cannot fit is refused before it is built ----------------------------

GB = 10 ** 9
# Caps as training computes them on sketch-rnn's QuickDraw files (sketches of at most 250 points).
CAPS = "max_seq_len=250,max_strokes_num=27,max_stroke_len=52"


@pytest.mark.parametrize("text", [f"preset=paper,{CAPS}", f"preset=paper,batch_size=1000,{CAPS}",
                                  f"preset=small,batch_size=1000,{CAPS}", "preset=paper"])
def test_legitimate_configs_fit_in_16_gb(text):
    hps = hparams.parse(text)
    assert hparams.validate(hps, memory=16 * GB) is hps
    assert hparams.memory_problem(hps, 16 * GB) is None


@pytest.mark.parametrize("text, key", [("enc_rnn_size=100000", "enc_rnn_size"), ("z_size=10000000", "z_size"),
                                       (f"dec_num_mixture=1000000,{CAPS}", "dec_num_mixture"),
                                       ("max_seq_len=100000000", "max_seq_len")])
def test_huge_configs_are_refused_naming_the_key(text, key):
    hps = hparams.parse(text)
    with pytest.raises(hparams.HParamsError) as info:
        hparams.validate(hps, memory=128 * GB)
    message = str(info.value)
    assert message.startswith(f"hparams {key}={getattr(hps, key)}: the model needs at least")
    assert "more than the 128.0 GB of memory" in message and "\n" not in message


def test_memory_grows_with_every_size_and_names_the_batch_on_a_small_machine():
    base = hparams.parse(CAPS)
    for key in ("batch_size", "enc_rnn_size", "dec_rnn_size", "z_size", "dec_num_mixture", "max_seq_len",
                "max_strokes_num", "max_stroke_len"):
        bigger = base.replace(**{key: 2 * getattr(base, key)})
        assert hparams.memory_bytes(bigger) > hparams.memory_bytes(base), key
    # Hand count of the parameter terms of a 1-unit model (x4 copies, 4 bytes each).
    tiny = hparams.parse("enc_model=lstm,dec_model=lstm,enc_rnn_size=1,dec_rnn_size=1,z_size=1,"
                         "dec_num_mixture=1,num_graphs=1,batch_size=1")
    # enc 2 cells * 4*(1+2+1); gcn 2*(2)^2; mu/sigma 2*2*1; dec 4*(1+6+1); init 1*2; out 1*9
    assert hparams.memory_bytes(tiny) == 4 * 4 * (2 * 16 + 8 + 4 + 32 + 2 + 9)
    problem = hparams.memory_problem(hparams.parse(f"batch_size=1000,{CAPS}"), GB)
    assert problem.startswith("hparams batch_size=1000: the model needs at least")


def test_machine_memory_is_a_positive_byte_count():
    assert hparams.machine_memory() > 10 ** 8


def test_fit_to_takes_the_data_caps_and_the_changes():
    """-1 caps and a cap the data lowered both become the data's; other fields stay or change as asked."""
    data = type("Data", (), {"max_seq_len": 87, "max_strokes_num": 12, "max_stroke_len": 40})()
    hps = hparams.parse("max_seq_len=-1,max_strokes_num=100,max_stroke_len=-1,batch_size=7")
    fitted = hparams.fit_to(hps, data, categories=["cat"])
    assert (fitted.max_seq_len, fitted.max_strokes_num, fitted.max_stroke_len) == (87, 12, 40)
    assert fitted.categories == ["cat"] and fitted.batch_size == 7
    changed = {"max_seq_len", "max_strokes_num", "max_stroke_len", "categories"}
    assert hparams.diff(hps, fitted).keys() == changed
