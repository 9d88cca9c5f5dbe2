"""sample_settings.py: the positional and the flag form of sample_abs.py's command line agree."""
import pytest

import errors
import sample_settings


def test_flags_and_positional_forms_agree():
    from absl import flags

    fv = flags.FlagValues()
    sample_settings.define_flags(fv)
    rest = fv(["prog", "7", "1", "out", "0.25", "ckpt", "4", "--nogreedy", "--seed=5"])
    positional = sample_settings.parse_settings(rest, fv)
    fv2 = flags.FlagValues()
    sample_settings.define_flags(fv2)
    rest2 = fv2(["prog", "--sample_size=7", "--dataset_id=1", "--sample_output=out", "--re_scale=0.25",
                 "--checkpoint_path=ckpt", "--ckpt_id=4", "--nogreedy", "--seed=5"])
    assert positional == sample_settings.parse_settings(rest2, fv2)
    assert positional["sample_size"] == 7 and positional["re_scale"] == 0.25
    assert positional["greedy"] is False and positional["seed"] == 5


def test_bad_settings_are_usage_errors():
    with pytest.raises(sample_settings.SettingsError, match="unknown settings: colour"):
        sample_settings.settings_with(sample_output="o", checkpoint_path="c", colour=1)
    with pytest.raises(errors.UsageError, match="temperature must be > 0, got 0"):
        sample_settings.settings_with(sample_output="o", checkpoint_path="c", temperature=0)
    assert issubclass(sample_settings.SettingsError, sample_settings.SampleError)


@pytest.mark.parametrize("text, negative", [("-0.3", True), ("-5", True), ("-.5", True), ("-1e-3", True),
                                           ("--seed", False), ("-x", False), ("0.3", False)])
def test_negative_numbers_are_told_from_flags(text, negative):
    assert bool(sample_settings.NEGATIVE_NUMBER.match(text)) is negative
