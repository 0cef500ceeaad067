"""Bar chart of the ratios `benches/floor.sh` measured, with each comparison's target.

    python floor_chart.py FLOOR.tsv OUT.png MINUTES

FLOOR.tsv rows: label, audioproc s, audioproc RSS MiB, peer s, peer name, ratio, kind
("slower": audioproc ÷ peer, lower is better; "faster": peer ÷ audioproc, higher is better),
target ("-" for none).
"""

import csv
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    tsv, out, minutes = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(tsv, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    slower = [r for r in rows if r[6] == "slower"]
    faster = [r for r in rows if r[6] == "faster"]
    fig, axes = plt.subplots(
        1, 2, figsize=(16, 6.5), gridspec_kw={"width_ratios": [len(slower), len(faster)]}
    )
    panels = [
        (axes[0], slower, "audioproc's time ÷ the peer's (lower is better)", "tab:blue"),
        (axes[1], faster, "the peer's time ÷ audioproc's (higher is better)", "tab:green"),
    ]
    for ax, group, title, colour in panels:
        # Wrapped so that neighbouring labels never run into each other.
        labels = ["\n".join(textwrap.wrap(r[0], 14)) for r in group]
        ratios = [float(r[5]) for r in group]
        bars = ax.bar(range(len(group)), ratios, color=colour)
        for i, r in enumerate(group):
            ax.annotate(f"{ratios[i]:.2f}×", (i, ratios[i]), ha="center", va="bottom", fontsize=9)
            if r[7] != "-":
                t = float(r[7])
                ax.hlines(t, i - 0.4, i + 0.4, colors="tab:red", linestyles="--")
                ax.annotate(f"target {t:g}×", (i + 0.4, t), ha="right", va="bottom", fontsize=8, color="tab:red")
        ax.set_xticks(range(len(group)), labels, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("ratio (×)")
        ax.margins(y=0.15)
        del bars
    fig.suptitle(f"audioproc against the floor and its peers: {minutes}-minute 44.1 kHz stereo input, one run")
    fig.tight_layout()
    fig.savefig(out, dpi=80)


if __name__ == "__main__":
    main()
