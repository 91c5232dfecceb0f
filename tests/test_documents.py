"""The figures that README, docs, the model cards, RESULTS and the notebooks quote are their sources' figures:
each agent's scores its `evaluation.json`, the main notebook's run its saved outputs; and every link to a
section of another document finds that section."""

import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
CARDS = sorted(MODELS.glob("*/README.md"))
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *CARDS, RESULTS]
NOTEBOOKS = [ROOT / "homework_pytorch_main.ipynb", ROOT / "homework_pytorch_debug.ipynb"]


def text(path: Path) -> str:
    """A document's words with its line breaks and bold marks gone; a notebook's cell sources."""
    if path.suffix == ".ipynb":
        raw = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    else:
        raw = path.read_text()
    return " ".join(raw.replace("**", "").split())


def reports() -> dict:
    """{(model, protocol): what `dqn evaluate --json` printed}, for every models/*/evaluation.json; the reports
    from before protocols had names are the noop protocol's play where epsilon is 0.05."""
    found = {}
    for path in sorted(MODELS.glob("*/evaluation.json")):
        for key, report in json.loads(path.read_text()).items():
            protocol = report.get("protocol") or ("noop" if report.get("epsilon") == 0.05 else key)
            found[path.parent.name, protocol] = report
    return found


def figure(report: dict) -> str:
    """How the cards and RESULTS write a report: mean +- std (min, max)."""
    return (f"{report['mean_score']:.1f} +- {report['std_score']:.1f} (min {min(report['scores']):.0f}, "
            f"max {max(report['scores']):.0f})")


REPORTS = reports()
needs_scores = pytest.mark.skipif(not REPORTS, reason="no models/*/evaluation.json")

# "137.0 under the noop protocol", "58.0 +- 29.8 under sticky actions", "about 130 under the noop protocol"
SCORE_QUOTE = re.compile(r"(?P<about>about )?(?P<mean>\d+(?:\.\d+)?)(?: \+- (?P<std>\d+\.\d+))? under "
                         r"(?:the (?P<protocol>noop|sticky) protocol|(?P<sticky>sticky) actions)")


def results_scores() -> set:
    """{(protocol, mean, std)} of RESULTS' tables of agents by protocol: rows that start with the protocol."""
    found = set()
    for row in RESULTS.read_text().replace("**", "").splitlines():
        protocol = re.match(r"\| (noop|sticky)\b", row)
        if protocol:
            found |= {(protocol[1], mean, std) for mean, std in re.findall(r"(\d+\.\d) \+- (\d+\.\d)", row)}
    return found


@needs_scores
@pytest.mark.parametrize("path", DOCUMENTS + NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_score_quoted_by_protocol_is_a_measured_one(path):
    """Where a document gives a score under a protocol, it is an agent's in its evaluation.json, or one of
    RESULTS' tables by protocol."""
    measured = {(protocol, f"{r['mean_score']:.1f}", f"{r['std_score']:.1f}") for (_, protocol), r in REPORTS.items()}
    measured |= results_scores()
    for quote in SCORE_QUOTE.finditer(text(path)):
        protocol = quote["protocol"] or quote["sticky"]
        assert not quote["about"], f"{path.name}: {quote[0]!r}: quote the measured figure"
        assert any(protocol == p and quote["mean"] == mean and quote["std"] in (None, std)
                   for p, mean, std in measured), f"{path.name}: {quote[0]!r} is no measured figure"


@needs_scores
@pytest.mark.parametrize("model, protocol", sorted(REPORTS))
def test_each_card_gives_its_measured_scores(model, protocol):
    report, card = REPORTS[model, protocol], text(MODELS / model / "README.md")
    assert figure(report) in card
    if "homework_score" in report:
        assert f"{report['homework_score']:.1f}" in card


@needs_scores
@pytest.mark.parametrize("model", sorted({model for model, protocol in REPORTS if protocol == "sticky"}))
def test_results_and_the_cards_give_the_same_scores_and_distance_to_250(model):
    """RESULTS quotes each agent's noop and sticky scores as its card does, and both say how far the noop
    score is from Bonus II's 250, short of it or above it."""
    noop, sticky = REPORTS[model, "noop"], REPORTS[model, "sticky"]
    results, card = text(RESULTS), text(MODELS / model / "README.md")
    assert figure(noop) in results and figure(sticky) in results
    gap = 250 - noop["mean_score"]
    distance = f"{gap:.0f} points short" if gap > 0 else f"{-gap:.0f} points above"
    assert distance in results and distance in card, distance


MAIN = ROOT / "homework_pytorch_main.ipynb"
# tqdm's last line, "120000/500000 [07:51<24:53, 254.46step/s]", and the loop's own last line
TQDM = re.compile(r"(\d+)/\d+ \[(\d+):(\d+)<[^,]*, ([\d.]+)step/s\]")
STOPPED = re.compile(r"stopped at agent step (\d+)")


def test_the_main_notebooks_saved_run_is_the_one_its_text_and_the_tables_quote():
    outputs = "".join(output.get("text", "") for cell in nbformat.read(MAIN, as_version=4).cells
                      if cell.cell_type == "code" for output in cell.get("outputs", []))
    if not STOPPED.search(outputs):
        pytest.skip("the main notebook is saved without its training run's outputs")
    step = int(STOPPED.findall(outputs)[-1])
    bar_step, minutes, seconds, rate = TQDM.findall(outputs)[-1]
    assert int(bar_step) == step
    # a table row: agent steps | training minutes (agent steps/s) |, the minutes as tqdm's, to its whole seconds
    row = re.compile(rf"\| {step:,} \| (\d+\.\d) \({float(rate):.0f}\) \|")
    for document in MAIN, RESULTS:
        quoted = row.search(text(document))
        assert quoted, f"{document.name} has no row {row.pattern}"
        assert abs(float(quoted[1]) - (int(minutes) + int(seconds) / 60)) < 0.1, quoted[0]
    assert f"stopped at {step // 1000}k agent steps" in text(MAIN)
    assert f"({step // 1000}k agent steps) | {float(rate):.0f} |" in text(ROOT / "README.md")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


LINK = re.compile(r"\]\(([^)\s#]*)#([^)\s]+)\)")


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_link_to_a_section_finds_it(path):
    for target, anchor in LINK.findall(path.read_text()):
        linked = (path.parent / target).resolve() if target else path
        if linked.suffix != ".md" or not linked.is_file():
            continue
        headings = {slug(line.lstrip("#")) for line in linked.read_text().splitlines() if line.startswith("#")}
        assert anchor in headings, f"{path.name} links to {target}#{anchor}, which has no such heading"


def test_readmes_table_of_times_quotes_results():
    """Each minutes and agent steps/s figure of README's "What to expect" table is one of RESULTS'."""
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| what runs |"):].split("\n\n", 1)[0]
    results = text(RESULTS)
    for row in table.splitlines()[2:]:
        time_to_15, speed = row.split(" | ")[2:4]
        undated = re.sub(r"\d{4}-\d\d-\d\d", "", f"{time_to_15} {speed}")
        for figure in re.findall(r"\d+\.\d+|\d{3}", undated):
            assert re.search(rf"(?<![\d.]){re.escape(figure)}(?![\d.])", results), f"README's {figure} ({row})"
