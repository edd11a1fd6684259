"""Suite files are loaded within limits: a hostile or broken YAML file is refused at its line, quickly and in
little memory, instead of hanging `sadbench validate`."""

import time
import tracemalloc

import pytest

from sadbench.suites import document
from sadbench.suites.suite import SuiteError, load_suite


def laughs(levels, width=9):
    """The "billion laughs" file: each level is a list of ``width`` aliases of the level before."""
    lines = ["lol0: &lol0 [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, levels + 1):
        lines.append(f"lol{level}: &lol{level} [" + ", ".join([f"*lol{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def refusal(path):
    """(message, seconds, peak traced bytes) of loading ``path``, which must fail."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SuiteError) as info:
            load_suite(path)
        return str(info.value), time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_alias_bomb_is_refused_at_its_line_quickly_and_in_little_memory(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(laughs(9))  # 9^10 ≈ 3.5e9 strings once expanded
    message, seconds, peak = refusal(path)
    # level k expands to 1 + 9 + ... + 9^(k+1) nodes: level 5 (line 6) is the first past 200 000
    assert message == (f"{path}:6: invalid YAML: the document expands to more than {document.MAX_NODES} nodes "
                       "(aliases repeating aliases?)")
    assert seconds < 1.0
    assert peak < 10 * 2**20


def test_aliases_within_the_limit_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(laughs(3) + "defaults:\n  network: &net {widths: [1, 2, 1]}\n  target: {name: polynomial, "
                    "expr: x, n: 4}\n  horizon: 1.0\ncases:\n  - &one {label: a, network: *net}\n"
                    "  - {<<: *one, label: b, loss: logistic}\n")
    with pytest.raises(SuiteError, match=r"ok.yaml:1: lol0: unknown key 'lol0'"):
        load_suite(path)  # the aliases were read; the unknown top-level key is the only mistake


@pytest.mark.parametrize("text, line, message", [
    ("a: &a [1, *a]\n", 1, "alias *a refers to a node that contains it"),
    ("a: " + "[" * 70 + "]" * 70 + "\n", 1, f"nested deeper than {document.MAX_DEPTH} levels"),
    ("x: 1\nn: " + "9" * 5000 + "\n", 2, "cannot read '" + "9" * 40 + "': Exceeds the limit (4300 digits)"),
    ("x: 1\n\nday: 2024-13-45\n", 3, "cannot read '2024-13-45': month must be in 1..12"),
    ("a: &a [[[[[[[[[[1]]]]]]]]]]\nb: &b [[[[[[[[[[*a]]]]]]]]]]\nc: &c [[[[[[[[[[*b]]]]]]]]]]\n"
     "d: &d [[[[[[[[[[*c]]]]]]]]]]\ne: &e [[[[[[[[[[*d]]]]]]]]]]\nf: &f [[[[[[[[[[*e]]]]]]]]]]\n"
     "g: [[[[[[[[[[*f]]]]]]]]]]\n", 7, f"nested deeper than {document.MAX_DEPTH} levels"),
])
def test_recursive_deep_or_unreadable_yaml_is_refused_at_its_line(tmp_path, text, line, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value).startswith(f"{path}:{line}: invalid YAML: {message}")


def test_a_huge_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(document, "MAX_BYTES", 1000)
    path = tmp_path / "big.yaml"
    path.write_text("description: " + "x" * 2000 + "\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value) == (f"{path}:1: 2014 bytes; a suite file is at most 1000 (put data in a file that a "
                               "target reads)")


def test_a_file_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(SuiteError, match=r"binary.yaml:1: not UTF-8 text \(invalid start byte at byte 6\)"):
        load_suite(path)


def test_a_grid_of_too_many_cases_is_refused_before_expansion(tmp_path):
    axes = "".join(f"  target.n: [{', '.join(str(n) for n in range(2, 14))}]\n" if i == 0 else
                   f"  network.widths: [{', '.join(f'[1, {w}, 1]' for w in range(1, 13))}]\n" if i == 1 else
                   f"  integrator.rtol: [{', '.join(f'1.0e-{k}' for k in range(2, 14))}]\n" if i == 2 else
                   f"  seeds: [{', '.join(f'[{s}]' for s in range(12))}]\n" for i in range(4))
    path = tmp_path / "grid.yaml"
    path.write_text("defaults:\n  network: {widths: [1, 2, 1]}\n  target: {name: polynomial, expr: x}\n"
                    "  horizon: 1.0\ngrid:\n" + axes + "  loss: [mse, logistic, exponential, mse2, mse3]\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value) == f"{path}:5: grid: the suite expands to 103680 cases; at most 100000 fit in one suite"


def test_a_control_character_is_refused_at_its_line(tmp_path):
    path = tmp_path / "control.yaml"
    path.write_text("name: x\ndescription: a\x00b\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value) == f"{path}:2: invalid YAML: character #x0000 is not allowed (a control character)"
