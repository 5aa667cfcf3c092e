"""The benchmark suite runs from the installed package and writes its JSON."""

import json

from fastseg.bench import registry
from fastseg.cli import main


def test_every_case_has_a_unique_name_and_positive_work():
    cases = registry()
    names = [c.name for c in cases]
    assert len(names) == len(set(names))
    assert all(c.work > 0 and c.unit in ("GFLOP/s", "GB/s") for c in cases)


def test_bench_command_writes_results(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--filter", "fwd N1 C64->2 ", "--compare", "",
                             "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["machine"]["fma_peak_gflops"] > 0
    [case] = results["cases"]
    entry = case["impls"]["fastseg"]
    assert entry["median_s"] > 0 and entry["rate"] > 0 and entry["percent_peak"] > 0
    assert "conv2d fwd N1 C64->2" in capsys.readouterr().out
