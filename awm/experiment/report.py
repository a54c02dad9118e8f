"""The comparison report: figures (PNG, matplotlib's Agg renderer), report.md, a self-contained report.html (figures
embedded as data URIs, CSS inline, no external URL: it opens offline and can be mailed as one file) and
comparison.json. The report is written as a list of blocks rendered twice, to Markdown and to HTML, so the two always
say the same; every figure comes with a paragraph saying what it shows and how to read it."""

from __future__ import annotations

import base64
import html
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from awm.errors import UserError
from awm.experiment import ablation, continual
from awm.experiment.compare import Comparison, p_phrase, p_value, percent, points
from awm.fmt import duration
from awm.records import Experience, Status

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")  # matplotlib's tab10, one per arm in arm order
TOP_ENTRIES = 20  # memory entries in the usefulness figure
LISTED = 20  # instance ids listed as won / lost before "and N more"
DPI = 110

# A block of the report: ("h1" | "h2" | "h3" | "p", text), ("ul", [text]), ("table", headers, rows, align),
# ("figure", file name, caption, alt text), ("details", summary, [blocks]). Text may hold `code` spans.
Block = tuple


def write_report(comparison: Comparison, output_dir: str | Path) -> dict:
    """Write the comparison's report: report.md, report.html (figures inlined), comparison.json and the figures.

    Args:
        comparison: what compare() computed.
        output_dir: the folder to write into (made if missing; files of an earlier report there are replaced).

    Returns:
        {"md", "html", "json": path, "png": [paths]} (as strings), also kept as `comparison.report`.

    Raises:
        UserError: the folder cannot be written (named, with the reason).
    """
    out = Path(output_dir).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        figures = _figures(comparison, out)
        blocks = _document(comparison, figures)
        md, page, data = out / "report.md", out / "report.html", out / "comparison.json"
        md.write_text(to_markdown(blocks), encoding="utf-8")
        page.write_text(to_html(blocks, out, title=_title(comparison)), encoding="utf-8")
        record = comparison.to_dict()
        record["figures"] = {name: caption for name, caption in figures}
        data.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"compare: cannot write the report into {out} (--output-dir): {exc.strerror or exc}. Choose "
                        "a folder you can write to.") from None
    comparison.report = {"md": str(md), "html": str(page), "json": str(data),
                         "png": [str(out / name) for name, _ in figures]}
    return comparison.report


# ---- the document

def _title(comparison: Comparison) -> str:
    return "Comparison: " + " vs ".join(arm.name for arm in comparison.arms)


def _document(c: Comparison, figures: list[tuple[str, str]]) -> list[Block]:
    names = dict(figures)  # file name -> short caption (the image's alt text)
    blocks: list[Block] = [("h1", _title(c))]
    reps = f"{c.replicates} replicate runs per arm (replicate i paired with replicate i)" if c.replicates > 1 else \
        "one run per arm"
    blocks.append(("p", f"Generated {time.strftime('%Y-%m-%d %H:%M')}. Reference arm: `{c.reference}`. "
                        f"{len(c.instances)} SWE-bench instances finished and graded by every run are paired, "
                        f"{reps}. A resolved issue is one whose tests pass after the agent's patch; an attempt that "
                        "broke (ERROR) counts as unresolved."))
    if c.warnings:
        blocks += [("h2", "Warnings"), ("p", "Read these before the numbers: they say where the runs are not as "
                                            "comparable as they look."), ("ul", list(c.warnings))]
    blocks += _runs_section(c)
    blocks += _rates_section(c, names)
    blocks += _differences_section(c, names)
    blocks += _usage_section(c, names)
    from awm.experiment import costs, leaks

    blocks += costs.report_blocks(c, _money, _count) + leaks.report_blocks(c)
    blocks += _curves_section(c, names)
    blocks += continual.blocks(c)  # forward/backward transfer, forgetting, AULC (with replays)
    blocks += ablation.blocks(c)  # each entry withheld: its causal effect beside its association
    blocks += _memory_section(c, names)
    blocks += _workflow_section(c, names)
    blocks += _adherence_section(c)
    blocks += _instances_section(c)
    blocks += _method_section(c)
    return blocks


def memory_figures(c: Comparison) -> list[Block]:
    """The report's sections on what memory cost, caused and may have leaked, in the report's order: cost-effectiveness,
    the leak audit, continual learning, ablations, adherence (each empty where the comparison has no such figure; the
    adherence section always says something). The compare screen shows these too."""
    from awm.experiment import costs, leaks

    return [*costs.report_blocks(c, _money, _count), *leaks.report_blocks(c), *continual.blocks(c),
            *ablation.blocks(c), *_adherence_section(c)]


def _figure(name: str, names: dict[str, str], caption: str) -> list[Block]:
    return [("figure", name, caption, names[name])] if name in names else []


def _runs_section(c: Comparison) -> list[Block]:
    rows = []
    for arm in c.arms:
        for index, run in enumerate(arm.runs, 1):
            provenance = run.provenance or {}
            awm = provenance.get("awm_tui") or {}
            made = f"{awm.get('version') or '?'} ({(awm.get('commit') or 'no commit')[:10]})" if provenance else \
                "not recorded"
            rows.append([arm.name, str(index), run.label, run.model or "?", run.status, str(len(run.experiences)),
                         made])
    return [("h2", "Runs"),
            ("p", "Each arm's runs: replicate number, folder, model, state, issues finished (all of them, paired or "
                  "not) and the awm-tui version that made the run (from config.json's provenance)."),
            ("table", ["arm", "replicate", "run", "model", "state", "finished", "awm-tui"], rows, "lrlllrl")]


def _rates_section(c: Comparison, names: dict[str, str]) -> list[Block]:
    rows = [[r.arm, f"{r.resolved}/{r.pairs}", str(r.errors), percent(r.rate),
             f"{percent(r.ci[0])} – {percent(r.ci[1])}"] + ([", ".join(percent(x) for x in r.replicate_rates)]
                                                           if c.replicates > 1 else [])
            for r in c.results]
    headers = ["arm", "resolved", "errors", "rate", "95% CI (Wilson)"] + (["per replicate"] if c.replicates > 1 else [])
    text = ("The share of paired issues each arm resolved, with a 95% Wilson score interval: the range of rates "
            "consistent with what was observed, given the number of issues (it stays honest for small samples and "
            "rates near 0% or 100%). Overlapping intervals do not mean there is no difference: arms given the same "
            "issues are compared more precisely by the paired statistics below.")
    if c.replicates > 1:
        text += (" With replicates, the interval counts every (replicate, issue) pair as a sample, which makes it too "
                 "narrow when an issue's outcome repeats across seeds; the bootstrap interval of the difference below "
                 "does not have that problem.")
    return [("h2", "Resolved rate"), ("p", text), ("table", headers, rows, "lrrrrl"),
            *_figure("rates.png", names, "Resolved rate per arm. Dot: the rate over the paired issues; bar: its 95% "
                                         "Wilson interval" + ("; small circles: each replicate's own rate."
                                                              if c.replicates > 1 else "."))]


def _differences_section(c: Comparison, names: dict[str, str]) -> list[Block]:
    rows = [[d.arm, points(d.difference), f"{points(d.ci[0])} – {points(d.ci[1])}", str(d.wins), str(d.losses),
             str(d.both_resolved), str(d.neither), p_value(d.p_value)] for d in c.differences]
    blocks: list[Block] = [
        ("h2", f"Difference with the reference ({c.reference})"),
        ("p", "Each arm against the reference on the same issues (and the same replicate). The difference is in "
              "percentage points (pp) of resolved rate, positive when the arm resolved more. Its 95% interval comes "
              f"from a paired bootstrap: the issues are resampled {c.settings['bootstrap']} times with replacement, "
              "each keeping its pair of outcomes, and the middle 95% of the resampled differences is reported. "
              "An interval that excludes 0 is evidence of a real difference at about the 5% level."),
        ("p", "Won: issues the arm resolved and the reference did not; lost: the reverse; the issues both or neither "
              "resolved say nothing about which arm is better. McNemar's exact test asks whether the wins and "
              "losses could be a fair coin's split of the issues that differ; a small p (below 0.05) says the "
              "split is unlikely by chance."),
        ("table", ["arm", "difference", "95% CI (bootstrap)", "won", "lost", "both resolved", "neither", "McNemar p"],
         rows, "lrrrrrrr"),
    ]
    per_instance = c.per_instance()
    for d in c.differences:
        won = [r["instance_id"] for r in per_instance if r["verdicts"][d.arm] == "win"]
        lost = [r["instance_id"] for r in per_instance if r["verdicts"][d.arm] == "loss"]
        blocks.append(("p", f"`{d.arm}` won on {len(won)} issue(s): {_listed(won)}. Lost on {len(lost)}: "
                            f"{_listed(lost)}."))
    blocks += _figure("differences.png", names, "Difference in resolved rate with the reference, in percentage "
                                                "points. Dot: the observed difference; bar: its 95% paired bootstrap "
                                                "interval; the dashed line is no difference.")
    return blocks


def _usage_section(c: Comparison, names: dict[str, str]) -> list[Block]:
    rows = [[u["arm"], _money(u["cost"]["median"]), _money(u["cost"]["mean"]), _money(u["cost"]["total"]),
             _money(u["induction_cost"]), _count(u["tokens"]["median"]), _count(u["tokens"]["total"]),
             f"{u['steps']['median']:g}", duration(u["duration_s"]["median"]), duration(u["duration_s"]["total"])]
            for u in c.usage]
    over = f" (over its {c.replicates} runs)" if c.replicates > 1 else ""
    return [
        ("h2", "Cost, tokens, steps and time per issue"),
        ("p", "What the agent spent on each paired issue: model cost, tokens (prompt and completion), agent steps and "
              f"wall time; the median is the typical issue, the total is the arm's sum over the paired issues{over}. "
              "Induction cost is apart: what memory's own model calls cost (inducing workflows and pitfalls, merging "
              "them, the judge), over the whole runs, since induction learns from every issue a run finished."),
        ("table", ["arm", "cost median", "cost mean", "cost total", "induction cost", "tokens median",
                   "tokens total", "steps median", "time median", "time total"], rows, "lrrrrrrrrr"),
        *_figure("per_issue.png", names, "Per-issue distributions of cost, tokens, agent steps and wall time, one "
                                         "box per arm: the box spans the middle half of the issues, the line in it is "
                                         "the median, the whiskers reach the last issue within 1.5 box lengths and "
                                         "circles are the issues beyond."),
    ]


def _curves_section(c: Comparison, names: dict[str, str]) -> list[Block]:
    rows = []
    for curve in c.curves:
        for rep in curve["replicates"]:
            for r in rep["rounds"]:
                where = str(r["position"]) if r["position"] is not None else "after the last paired issue"
                rows.append([curve["arm"], rep["run"], str(r["round"]), r["kind"], where])
    thin = " Thin lines are the single replicates, thick lines their mean." if c.replicates > 1 else ""
    blocks: list[Block] = [
        ("h2", "Learning curves"),
        ("p", "How the resolved rate develops as a run goes through its issues: the x axis is the issue's position "
              "in the run's order, counting the paired issues only. A memory arm that learns should pull away from "
              "a memory-off arm as workflows accumulate; dotted vertical lines mark where an induction round's memory "
              f"was first given to an issue.{thin}"),
        *_figure("learning_cumulative.png", names, "Cumulative resolved rate: resolved so far / issues so far. It "
                                                   "settles as the run goes on, so late changes move it little."),
        *_figure("learning_rolling.png", names, f"Rolling resolved rate over the last {c.settings['rolling']} issues "
                                                "(starts once the window is full): forgets the start, so a change "
                                                "later in the run shows; noisy with small windows."),
    ]
    if rows:
        blocks += [("p", "Induction rounds and the position of the first issue that was given their memory:"),
                   ("table", ["arm", "run", "round", "kind", "first issue with it"], rows, "llrll")]
    else:
        blocks.append(("p", "No run made an induction round."))
    return blocks


def _memory_section(c: Comparison, names: dict[str, str]) -> list[Block]:
    rows = [[u["arm"], f"{u['memory_issues']}/{u['issues']}", _count(u["memory_tokens"]["median"]),
             _count(u["memory_tokens"]["mean"]), _count(u["memory_tokens"]["total"])] for u in c.usage]
    return [
        ("h2", "Memory injected"),
        ("p", "How much workflow memory went into the agent's system prompt: the issues given any memory, and its "
              "size in tokens (the model's tokenizer) per issue. More memory is more prompt to pay for on every "
              "step, and can crowd out the issue itself."),
        ("table", ["arm", "issues given memory", "tokens median", "tokens mean", "tokens total"], rows, "lrrrr"),
        *_figure("memory_tokens.png", names, "Memory tokens injected per issue over the run (mean over replicates), "
                                             "with the induction rounds marked: the memory grows at a round and "
                                             "shrinks when retrieval picks fewer entries or entries are evicted."),
    ]


def _workflow_section(c: Comparison, names: dict[str, str]) -> list[Block]:
    if not c.workflows:
        return [("h2", "Workflow and pitfall usefulness"), ("p", "No arm injected any memory entry.")]
    rows = [[w["arm"], w["against"], w["id"], w["name"] or "?", w["kind"], str(w["given"]), percent(w["pass_rate"]),
             str(w["helped"]), str(w["hurt"])] for w in c.workflows]
    return [
        ("h2", "Workflow and pitfall usefulness"),
        ("p", "For each memory entry an arm injected: the issues it was given to, the share of those the arm "
              "resolved, and against another arm on the same issues (the reference; for the reference's own "
              "entries, each other arm) how often it helped (this arm resolved, the other did not) and hurt (the "
              "other resolved, this arm did not). It is association, not proof: an entry is given to issues it "
              "looks relevant for, and several entries are often given together, so credit is shared."),
        ("table", ["arm", "against", "id", "name", "kind", "given", "resolved", "helped", "hurt"], rows,
         "lllllrrrr"),
        *_figure("workflows.png", names, f"Helped (right) and hurt (left) counts of the {TOP_ENTRIES} most given "
                                         "entries: an entry whose green bar outweighs its red one went with wins "
                                         "more than with losses."),
    ]


def _adherence_section(c: Comparison) -> list[Block]:
    """Resolved when a given entry was followed vs not, per arm (awm.memory.adherence)."""
    figures = [a for a in c.adherence if a.get("given")]
    head: list[Block] = [("h2", "Adherence: resolved when an entry was followed")]
    if not figures:
        return head + [("p", "No arm gave any paired issue a memory entry.")]
    threshold = figures[0]["threshold"]

    def group(g: dict) -> list[str]:
        if not g["issues"]:
            return ["0/0", "–", "–"]
        interval = f"{percent(g['ci'][0])} – {percent(g['ci'][1])}"
        return [f"{g['resolved']}/{g['issues']}", percent(g["rate"]), interval]

    rows = [[a["arm"], str(a["given"]), str(a["unscored"]),
             "–" if a["mean_score"] is None else f"{a['mean_score']:.2f}", *group(a["followed"]),
             *group(a["not_followed"])] for a in figures]
    return head + [
        ("p", "How far each issue's trajectory followed the memory entries it was given: each entry's steps aligned "
              "in order with the agent's actions by their words (`awm.memory.adherence`'s lexical score, in [0, 1]: "
              "the share of the entry's steps done, in its order; or the model's rating, with `memory.adherence: "
              "judge`). An issue *followed* memory when its best "
              f"entry scored at least {threshold:g}; the table gives the resolved rate of the issues that did and "
              "of those that did not, each with its 95% Wilson interval. Unscored: issues given entries with no "
              "score recorded (`memory.adherence: off`, or a run from before scores were kept). Read it as an "
              "association, and the score as lexical overlap, not proof of use: an agent that greps, edits and runs "
              "the tests matches a workflow that says so whether or not it read it, and the issues an entry fits "
              "may be easier or harder than the rest."),
        ("table", ["arm", "given memory", "unscored", "mean best score", "followed: resolved", "rate",
                   "95% CI (Wilson)", "not followed: resolved", "rate", "95% CI (Wilson)"], rows, "lrrrrrlrrl"),
    ]


def _instances_section(c: Comparison) -> list[Block]:
    others = [arm.name for arm in c.arms[1:]]
    headers = ["instance", c.reference] + [h for name in others for h in (name, f"vs {c.reference}")]
    rows = []
    for row in c.per_instance():
        cells = [row["instance_id"], _outcome(row["statuses"][c.reference])]
        for name in others:
            cells += [_outcome(row["statuses"][name]), row["verdicts"][name]]
        rows.append(cells)
    return [("h2", "Per-instance outcomes"),
            ("details", f"Win / loss / tie per instance ({len(rows)} instances)", [
                ("p", "Each paired instance's outcome in every arm (with replicates: how many of them resolved it) "
                      "and the verdict against the reference: win (resolved more often), loss (less often), tie."),
                ("table", headers, rows, "l" * len(headers))])]


def _method_section(c: Comparison) -> list[Block]:
    s = c.settings
    return [("h2", "How this was computed"), ("ul", [
        "Pairing: the instances every run finished; those any run left ungraded (SKIPPED) are left out. The pairing "
        "unit is (replicate, instance); ERROR counts as unresolved.",
        f"Resolved rate interval: Wilson score interval, {s['confidence']:.0%}.",
        "Difference interval: percentile bootstrap over instances (an instance's replicates resampled together), "
        f"{s['bootstrap']} resamples, seed {s['seed']}.",
        "McNemar: exact two-sided binomial test on the discordant pairs (won vs lost), pooled over replicates. With "
        "several arms each is tested against the reference without correction for multiple comparisons.",
        f"Rolling window: {s['rolling']} issues.",
        "Provenance: dataset rows, code, package and prompt versions compared from each run's config.json.",
        "Machine-readable figures and tables: `comparison.json`.",
    ])]


# ---- formatting

def _listed(ids: list[str]) -> str:
    if not ids:
        return "none"
    shown = ", ".join(ids[:LISTED])
    return shown + (f" and {len(ids) - LISTED} more" if len(ids) > LISTED else "")


def _outcome(statuses: list[str]) -> str:
    if len(statuses) == 1:
        return statuses[0]
    return f"{sum(s == Status.PASS for s in statuses)}/{len(statuses)}"


def _money(value: float) -> str:
    if value == 0:
        return "$0"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def _count(value: float) -> str:
    for size, unit in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def _tick(value: float, _position=None) -> str:
    """An axis label: 250k, 1.5M, 0.25."""
    for size, unit in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{unit}"
    return f"{value:g}"


# ---- Markdown and HTML

def to_markdown(blocks: list[Block]) -> str:
    parts = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            parts.append("#" * int(kind[1]) + " " + block[1])
        elif kind == "p":
            parts.append(block[1])
        elif kind == "ul":
            parts.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "table":
            parts.append(_markdown_table(*block[1:]))
        elif kind == "figure":
            parts.append(f"![{block[3]}]({block[1]})\n\n*{block[2]}*")
        elif kind == "details":
            parts.append(f"**{block[1]}**\n\n" + to_markdown(block[2]).rstrip())
    return "\n\n".join(parts) + "\n"


def _markdown_table(headers: list[str], rows: list[list[str]], align: str) -> str:
    def cells(values):
        return "| " + " | ".join(str(v).replace("|", "\\|").replace("\n", " ") for v in values) + " |"

    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align[:len(headers)].ljust(len(headers), "l")) + "|"
    return "\n".join([cells(headers), rule, *(cells(r) for r in rows)])


CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; max-width: 1150px;
       margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #eee; padding-bottom: .2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13.5px; display: block; overflow-x: auto; }
th, td { border: 1px solid #ddd; padding: .3em .6em; vertical-align: top; }
th { background: #f3f5f7; text-align: left; }
tr:nth-child(even) td { background: #fafbfc; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f3f5f7; padding: 0 .25em; border-radius: 3px; font-size: 90%; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 13.5px; margin-top: .3em; }
details summary { cursor: pointer; font-weight: 600; }
ul li { margin: .3em 0; }
#render-check { color: #888; font-size: 12px; margin-top: 3em; }
"""

# Filled in when the page has loaded: how many figures the browser decoded (scripts/check_report_html.py reads it).
RENDER_CHECK = """<script>
window.addEventListener("load", function () {
  var images = document.images, rendered = 0;
  for (var i = 0; i < images.length; i++) { if (images[i].complete && images[i].naturalWidth > 0) rendered++; }
  document.getElementById("render-check").textContent = "images: " + rendered + "/" + images.length + " rendered";
});
</script>"""


def to_html(blocks: list[Block], folder: Path, title: str) -> str:
    """One self-contained page: the figures in `folder` embedded as base64 PNG data URIs."""
    body = _html_blocks(blocks, folder)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}'
            f"</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n"
            '<p id="render-check">images: not checked (filled in once the page has loaded)</p>\n'
            f"{RENDER_CHECK}\n</body>\n</html>\n")


def _inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(str(text)))


def _html_blocks(blocks: list[Block], folder: Path) -> str:
    parts = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3", "p"):
            parts.append(f"<{kind}>{_inline(block[1])}</{kind}>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block[1]) + "</ul>")
        elif kind == "table":
            parts.append(_html_table(*block[1:]))
        elif kind == "figure":
            data = base64.b64encode((folder / block[1]).read_bytes()).decode("ascii")
            parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block[3])}">'
                         f"<figcaption>{_inline(block[2])}</figcaption></figure>")
        elif kind == "details":
            parts.append(f"<details><summary>{_inline(block[1])}</summary>{_html_blocks(block[2], folder)}"
                         "</details>")
    return "\n".join(parts)


def _html_table(headers: list[str], rows: list[list[str]], align: str) -> str:
    align = align[:len(headers)].ljust(len(headers), "l")
    head = "".join(f'<th class="{a}">{_inline(h)}</th>' for h, a in zip(headers, align))
    body = "".join("<tr>" + "".join(f'<td class="{a}">{_inline(v)}</td>' for v, a in zip(row, align)) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# ---- figures

def _figures(c: Comparison, out: Path) -> list[tuple[str, str]]:
    """Draw and save every figure that has something to show; [(file name, short caption)]."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend (renders with Agg)

    makers: list[tuple[str, str, Callable]] = [
        ("rates.png", "resolved rate per arm with 95% Wilson intervals", _plot_rates),
        ("differences.png", "difference with the reference, 95% paired bootstrap intervals", _plot_differences),
        ("learning_cumulative.png", "cumulative resolved rate over issue position", _plot_cumulative),
        ("learning_rolling.png", "rolling resolved rate over issue position", _plot_rolling),
        ("memory_tokens.png", "memory tokens injected per issue", _plot_memory),
        ("per_issue.png", "cost, tokens, steps and time per issue", _plot_per_issue),
        ("workflows.png", "memory entries: helped and hurt", _plot_workflows),
    ]
    written = []
    for name, caption, make in makers:
        figure = make(c, Figure)
        if figure is None:
            continue
        figure.savefig(out / name, dpi=DPI, bbox_inches="tight")
        written.append((name, caption))
    return written


def _colour(index: int) -> str:
    return COLOURS[index % len(COLOURS)]


def _plot_rates(c: Comparison, Figure):
    figure = Figure(figsize=(7.5, 0.8 + 0.55 * len(c.results)))
    ax = figure.add_subplot()
    for i, r in enumerate(c.results):
        y = len(c.results) - 1 - i
        ax.errorbar([r.rate], [y], xerr=[[r.rate - r.ci[0]], [r.ci[1] - r.rate]], fmt="o", color=_colour(i),
                    capsize=4, markersize=7)
        if len(r.replicate_rates) > 1:
            ax.plot(r.replicate_rates, [y] * len(r.replicate_rates), "o", mfc="none", color=_colour(i), alpha=0.6,
                    markersize=5)
        ax.annotate(f"{percent(r.rate)}  ({r.resolved}/{r.pairs})", (r.ci[1], y), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=9)
    ax.set_yticks(range(len(c.results)), [r.arm for r in reversed(c.results)])
    ax.set_xlim(0, 1.15)
    ax.set_ylim(-0.6, len(c.results) - 0.4)
    ax.set_xticks(np.linspace(0, 1, 6), [f"{x:.0%}" for x in np.linspace(0, 1, 6)])
    ax.set_xlabel("resolved rate (95% Wilson interval)")
    ax.grid(axis="x", alpha=0.3)
    return figure


def _plot_differences(c: Comparison, Figure):
    figure = Figure(figsize=(7.5, 0.9 + 0.55 * len(c.differences)))
    ax = figure.add_subplot()
    for i, d in enumerate(c.differences):
        y = len(c.differences) - 1 - i
        # a percentile interval may, rarely, not contain the observed difference: no negative bar then
        error = [[max(0.0, 100 * (d.difference - d.ci[0]))], [max(0.0, 100 * (d.ci[1] - d.difference))]]
        ax.errorbar([100 * d.difference], [y], xerr=error, fmt="o", color=_colour(i + 1), capsize=4, markersize=7)
        ax.annotate(f"{points(d.difference)}, McNemar {p_phrase(d.p_value)}", (100 * d.ci[1], y), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=9)
    ax.axvline(0, color="#555", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(c.differences)), [f"{d.arm} − {c.reference}" for d in reversed(c.differences)])
    ax.set_ylim(-0.6, len(c.differences) - 0.4)
    low = min([100 * d.ci[0] for d in c.differences] + [0])
    high = max([100 * d.ci[1] for d in c.differences] + [0])
    span = max(high - low, 1.0)
    ax.set_xlim(low - 0.1 * span, high + 0.6 * span)  # room for the labels on the right
    ax.set_xlabel("difference in resolved rate, percentage points (95% paired bootstrap interval)")
    ax.grid(axis="x", alpha=0.3)
    return figure


def _plot_curve(c: Comparison, Figure, key: str, ylabel: str, rate: bool = True):
    figure = Figure(figsize=(9, 4.6))
    ax = figure.add_subplot()
    style = "default" if rate else "steps-mid"  # a count per issue is a step, a rate a line
    for i, curve in enumerate(c.curves):
        colour = _colour(i)
        if c.replicates > 1:
            for rep in curve["replicates"]:
                ax.plot(range(1, len(rep[key]) + 1), rep[key], color=colour, alpha=0.3, linewidth=0.9,
                        drawstyle=style)
        mean = curve[f"mean_{key}"]
        ax.plot(range(1, len(mean) + 1), mean, color=colour, linewidth=2.2, label=curve["arm"], drawstyle=style)
        for rep in curve["replicates"]:
            for r in rep["rounds"]:
                if r["position"] is not None:
                    ax.axvline(r["position"], color=colour, linestyle=":", alpha=0.55, linewidth=1.2)
    if any(r["position"] is not None for curve in c.curves for rep in curve["replicates"] for r in rep["rounds"]):
        ax.plot([], [], color="#555", linestyle=":", label="induction round (first issue given it)")
    if rate:
        ax.set_ylim(-0.02, 1.02)
        ax.set_yticks(np.linspace(0, 1, 6), [f"{x:.0%}" for x in np.linspace(0, 1, 6)])
    ax.set_xlim(0.5, len(c.instances) + 0.5)
    ax.set_xlabel("issue position in the run (paired issues)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    return figure


def _plot_cumulative(c: Comparison, Figure):
    return _plot_curve(c, Figure, "cumulative", "resolved so far / issues so far")


def _plot_rolling(c: Comparison, Figure):
    return _plot_curve(c, Figure, "rolling", f"resolved in the last {c.settings['rolling']} issues")


def _plot_memory(c: Comparison, Figure):
    if not any(u["memory_tokens"]["total"] for u in c.usage):
        return None
    return _plot_curve(c, Figure, "memory_tokens", "memory tokens injected", rate=False)


def _paired_experiences(c: Comparison, arm_index: int) -> list[Experience]:
    runs = c.arms[arm_index].runs
    return [run.by_instance()[i] for run in runs for i in c.instances]


def _plot_per_issue(c: Comparison, Figure):
    panels = [("cost per issue ($)", lambda e: e.cost), ("tokens per issue", lambda e: e.prompt_tokens +
                                                          e.completion_tokens),
              ("agent steps per issue", lambda e: e.steps), ("time per issue (min)", lambda e: e.duration_s / 60)]
    from matplotlib.ticker import FuncFormatter

    experiences = [_paired_experiences(c, i) for i in range(len(c.arms))]
    figure = Figure(figsize=(10, 7))
    axes = figure.subplots(2, 2)
    for ax, (label, value) in zip(axes.flat, panels):
        data = [[value(e) for e in arm] for arm in experiences]
        boxes = ax.boxplot(data, patch_artist=True, widths=0.55, medianprops={"color": "#222"})
        ax.set_xticks(range(1, len(c.arms) + 1), [arm.name for arm in c.arms], rotation=15 if len(c.arms) > 3 else 0)
        for i, patch in enumerate(boxes["boxes"]):
            patch.set_facecolor(_colour(i))
            patch.set_alpha(0.45)
        ax.set_title(label, fontsize=10)
        ax.yaxis.set_major_formatter(FuncFormatter(_tick))
        ax.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return figure


def _plot_workflows(c: Comparison, Figure):
    if not c.workflows:
        return None
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    rows = sorted(c.workflows, key=lambda w: (-w["given"], w["id"]))[:TOP_ENTRIES][::-1]
    figure = Figure(figsize=(9, 1.4 + 0.32 * len(rows)), layout="constrained")
    ax = figure.add_subplot()
    y = np.arange(len(rows))
    ax.barh(y, [w["helped"] for w in rows], color="#2ca02c", label="helped (resolved where the other arm did not)")
    ax.barh(y, [-w["hurt"] for w in rows], color="#d62728", label="hurt (unresolved where the other arm resolved)")
    labels = [f"{w['id']} ({w['arm']} vs {w['against']}, given {w['given']})" for w in rows]
    ax.set_yticks(y, labels, fontsize=8)
    ax.axvline(0, color="#555", linewidth=0.8)
    limit = max([w["helped"] for w in rows] + [w["hurt"] for w in rows] + [1])
    ax.set_xlim(-limit - 0.5, limit + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{abs(value):g}"))  # hurt counts drawn leftwards
    ax.set_xlabel("issues")
    figure.legend(loc="outside upper center", ncols=2, fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return figure
