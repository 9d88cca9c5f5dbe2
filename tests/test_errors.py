"""errors.py: first_line, error_lines, report's exit status and stderr lines, guarded."""
import pytest

import errors


def test_first_line_is_the_first_line_or_the_type_name_cut_to_the_limit():
    assert errors.first_line(ValueError("bad\nsecond line")) == "bad"
    assert errors.first_line(ValueError("  \n")) == "ValueError"
    assert errors.first_line(KeyError()) == "KeyError"
    assert errors.first_line(ValueError("x" * 300)) == "x" * 200
    assert errors.first_line(ValueError("abcdef"), limit=3) == "abc"


def test_error_lines_prefix_every_line():
    assert errors.error_lines(errors.UserError("one")) == "error: one"
    assert errors.error_lines(errors.UserError("a\nb")) == "error: a\nerror: b"
    assert errors.error_lines(errors.UsageError()) == "error: UsageError"


@pytest.mark.parametrize("err, status", [(errors.UserError("no such folder"), 1),
                                         (errors.UsageError("expected 2 arguments"), 2)])
def test_report_prints_error_lines_and_exits(err, status, capsys):
    with pytest.raises(SystemExit) as info:
        errors.report(err)
    assert info.value.code == status
    out, stderr = capsys.readouterr()
    assert out == "" and stderr == f"error: {err}\n"


def test_guarded_reports_user_errors_and_passes_the_rest():
    class OwnError(errors.UserError):
        pass

    @errors.guarded
    def main(argv):
        """Doc."""
        if argv == "user":
            raise OwnError("bad file\nsecond problem")
        if argv == "usage":
            raise errors.UsageError("bad flag")
        if argv == "bug":
            raise RuntimeError("a bug")
        return 7

    assert main.__name__ == "main" and main.__doc__ == "Doc."
    assert main("fine") == 7
    for argv, status in (("user", 1), ("usage", 2)):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == status
    with pytest.raises(RuntimeError, match="a bug"):  # a bug keeps its traceback
        main("bug")


def test_guarded_writes_one_error_line_per_message_line(capsys):
    @errors.guarded
    def main():
        raise errors.UserError("a\nb")

    with pytest.raises(SystemExit):
        main()
    assert capsys.readouterr().err == "error: a\nerror: b\n"
