"""requirements.txt (CPU) and requirements-gpu.txt: fully pinned, identical but for TensorFlow."""
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIN = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[A-Za-z0-9,._-]+\])?"
                 r"==(?P<version>[A-Za-z0-9.+!-]+)")


def read_lines(name: str) -> list:
    """Lines of a requirements file, newlines stripped."""
    with open(os.path.join(REPO, name)) as f:
        return f.read().splitlines()


def requirements(name: str) -> list:
    """The requirement lines (comments and blank lines left out)."""
    return [line.strip() for line in read_lines(name) if line.strip() and not line.lstrip().startswith("#")]


def test_every_package_is_pinned_exactly():
    for name in ("requirements.txt", "requirements-gpu.txt"):
        reqs = requirements(name)
        assert reqs, name
        for line in reqs:
            assert PIN.fullmatch(line), f"{name}: {line!r} is not pinned with =="
        names = [PIN.fullmatch(line)["name"].lower() for line in reqs]
        assert len(names) == len(set(names)), f"{name}: a package is listed twice"
        assert "ruff" in names


def test_files_differ_only_in_the_tensorflow_line():
    cpu, gpu = read_lines("requirements.txt"), read_lines("requirements-gpu.txt")
    assert len(cpu) == len(gpu)
    differing = [(a, b) for a, b in zip(cpu, gpu) if a != b]
    assert len(differing) == 1
    cpu_tf, gpu_tf = (PIN.fullmatch(line) for line in differing[0])
    assert (cpu_tf["name"], cpu_tf["extras"]) == ("tensorflow-cpu", None)
    assert (gpu_tf["name"], gpu_tf["extras"]) == ("tensorflow", "[and-cuda]")
    assert cpu_tf["version"] == gpu_tf["version"]
