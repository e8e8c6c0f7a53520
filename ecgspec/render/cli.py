"""`ecgspec render` and `ecgspec preview`: the render stage on the command line.

`render` draws one record: a WFDB record path, or `SPEC:SOURCE/RECORD`, any record (by its
key) of any source a spec declares, read as a build reads it. `preview` tiles many pages into
a contact sheet: a spec's layouts, papers, distortions or a corpus's render mix on the shipped
samples, or `preview SPEC SOURCE`, the first records of one of the spec's sources.

`add_commands(subparsers)` registers both on the main `ecgspec` parser; each handler takes
(args, parser) and returns the exit status, like the other commands: 0 ok, 1 a problem in the
spec, the record or the page (printed as one located message, never a traceback), 2 misuse.
Run standalone as `python -m ecgspec.render.cli render …`.
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import did_you_mean, format_all
from ..ir import Corpus, Distort, Layout, Paper
from ..program import Program, load
from ..records import RecordError
from .errors import RenderError
from .source_target import find_ref, open_named_source, parse_source_target, source_names

if TYPE_CHECKING:
    import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SPECS = [ROOT / "specs" / name for name in ("layouts.ecg", "papers.ecg", "printouts.ecg", "distortions.ecg")]
SHIPPED_RECORDS = ROOT / "data" / "samples"


def _write_sheet(tiles: list[Any], out: Path, width: int) -> int | None:
    """Write a contact sheet of `tiles` to `out`; the number of tiles that failed (drawn red), or None
    (said) when the sheet cannot be written."""
    from .png import encode_png, write_atomic

    try:
        write_atomic(out, encode_png(contact_sheet(tiles, width=width)))
    except OSError as exc:
        _err(f"cannot write {out}: {exc.strerror or exc}")
        return None
    return sum(isinstance(t, str) for t, _ in tiles)


def _err(message: str) -> None:
    print(f"ecgspec: {message}", file=sys.stderr)


def load_specs(paths: list[Path] | None, args: argparse.Namespace) -> Program | None:
    """Load spec files (default: the shipped layouts, papers, printouts and distortions). Prints every
    diagnostic; returns None when there are errors."""
    files = paths or [p for p in SHIPPED_SPECS if p.is_file()]
    if not files:
        _err("no spec given and the shipped specs are not here; pass --spec FILE")
        return None
    for f in files:
        if not f.is_file():
            _err(f"no such spec file: {f}")
            return None
    program = load(files, root=getattr(args, "root", None), defines=getattr(args, "define", None) or [])
    if program.diagnostics:
        print(format_all(program.diagnostics, program.sources, sys.stderr.isatty()), file=sys.stderr)
    return program if program.ok else None


def lookup_in(programs: list[Program], kind: str, name: str) -> Any:
    """The declaration from the first program that declares it, or None after printing a
    'did you mean' message over all of them."""
    for program in programs:
        decl = program.decls.get((kind, name))
        if decl is not None:
            return decl
    names = sorted({n for p in programs for k, n in p.decls if k == kind})
    hint = did_you_mean(name, names)
    _err(f"no {kind} named '{name}'" + (f"; {hint}" if hint else f" (the specs declare: {', '.join(names) or 'none'})"))
    return None


def shipped_records(folder: Path = SHIPPED_RECORDS) -> list[Path]:
    """WFDB records (paths without extension) under a folder, in a stable order."""
    return sorted(p.with_suffix("") for p in folder.rglob("*.hea"))


# ---- render -------------------------------------------------------------------------------------


def cmd_render(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..records import read_wfdb
    from ..records.plausibility import check_plausible
    from .api import render_page, spec_hash_of, write_outputs

    if args.quality is not None and not 1 <= args.quality <= 100:
        parser.error("--quality must be between 1 and 100")
    target = parse_source_target(args.record)
    reader, ref = None, None
    programs: list[Program] = []
    if target is not None:
        spec, name, key = target
        if not name or not key:
            parser.error(f"{args.record}: give SPEC:SOURCE/RECORD, e.g. specs/sources.ecg:ptbxl/00001")
        if not Path(spec).is_file():
            parser.error(f"no such spec file: {spec}")
        source_program = load_specs([Path(spec)], args)
        if source_program is None:
            return 1
        reader = open_named_source(source_program, spec, name, args.data_root)
        if isinstance(reader, int):
            return reader
        ref = find_ref(reader, key)
        if ref is None:
            return 2
        programs.append(source_program)
    program = load_specs(args.spec, args)
    if program is None:
        return 1
    programs.insert(0, program)  # layouts, papers and distorts: --spec or the shipped ones first
    if args.spec and any(p.is_file() for p in SHIPPED_SPECS):
        # A --spec adds to the shipped library, it does not replace it: `--spec mine.ecg --paper
        # aged` still finds the shipped paper where mine.ecg declares none of that name.
        shipped = load_specs(None, argparse.Namespace(**{**vars(args), "root": None}))  # the library's own root
        if shipped is None:
            return 1
        programs.insert(1, shipped)
    layout = lookup_in(programs, "layout", args.layout)
    paper = lookup_in(programs, "paper", args.paper)
    distort = lookup_in(programs, "distort", args.distort) if args.distort else None
    if layout is None or paper is None or (args.distort and distort is None):
        return 1
    spec_hash = spec_hash_of(programs, layout.name, paper.name, distort.name if distort else None)
    try:
        if reader is not None:
            record = reader.read(ref)  # as a build reads it: leads, units, plausibility, resampling
        else:
            record = read_wfdb(args.record)
            check_plausible(record.signals, record.fs, args.record)  # the same refusal a build would give
        assert isinstance(layout, Layout) and isinstance(paper, Paper)
        assert distort is None or isinstance(distort, Distort)
        result = render_page(
            record,
            layout,
            paper,
            distort=distort,
            seed=args.seed,
            spec_hash=spec_hash,
            fast=not args.reference,
            dpi=args.dpi,
            ground_truth=args.ground_truth,
        )
        written = write_outputs(result, args.out, svg=args.svg, quality=args.quality)
    except (RecordError, RenderError) as exc:
        _err(str(exc))
        return 1
    except OSError as exc:
        _err(f"cannot write {exc.filename or args.out}: {exc.strerror or exc}")
        return 1
    img = result.sidecar.image
    steps = ", ".join(d["op"] for d in result.sidecar.distortions)
    how = f", distort {distort.name} seed {args.seed}: {steps or 'no step fired'}" if distort else ""
    what = f"record {record.source or record.id}, " if reader is not None else ""
    print(
        f"wrote {', '.join(str(p) for p in written)}  ({img.width}x{img.height} px, "
        f"{what}layout {layout.name}, paper {paper.name}{how})",
        file=sys.stderr,
    )
    return 0


# ---- preview ------------------------------------------------------------------------------------


def _tile_font(size: int):
    from PIL import ImageFont

    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


Job = tuple[Layout, Paper, Distort | None, int]  # what one thumbnail shows: layout, paper, distort, seed


def _jobs(program: Program, shipped: Program | None, name: str | None, n: int) -> tuple[list[Job], bool] | None:
    """The thumbnails the sheet shows, following `preview`'s rules, and whether they show
    distortions (then every tile shows the same record, the first one clean)."""

    def of(kind: str) -> list:
        own = program.of_kind(kind)
        return own if own or shipped is None else shipped.of_kind(kind)

    def default(kind: str, preferred: str) -> Any:
        pool = of(kind)
        return next((d for d in pool if d.name == preferred), pool[0] if pool else None)

    kinds = ("layout", "paper", "distort", "corpus")
    layouts, papers = of("layout"), of("paper")
    if not layouts or not papers:
        _err("the spec declares no layout and no paper to preview, and the shipped specs are not here")
        return None
    layout, paper = default("layout", "4x3"), default("paper", "standard")
    if name is not None:
        matches = [d for k in kinds for d in program.of_kind(k) if d.name == name]
        if not matches:
            names = [d.name for k in kinds for d in program.of_kind(k)] + source_names(program)
            hint = did_you_mean(name, names)
            _err(
                f"the spec declares no layout, paper, distort, corpus or source named '{name}'"
                + (f"; {hint}" if hint else "")
            )
            return None
        decl = matches[0]
        if isinstance(decl, Corpus):
            return _corpus_jobs(program, shipped, decl, n), False
        if isinstance(decl, Distort):
            return [(layout, paper, None, 0)] + [(layout, paper, decl, seed) for seed in range(max(n - 1, 1))], True
        if isinstance(decl, Layout):
            return [(decl, paper, None, 0)] * n, False
        assert isinstance(decl, Paper)
        return [(layout, decl, None, 0)] * n, False
    if program.of_kind("layout"):
        return [(lay, paper, None, 0) for lay in program.of_kind("layout")][:n], False  # type: ignore[return-value]
    if program.of_kind("paper"):
        # A fast paper does not fit the standard page: show it on the first layout that fits.
        return (
            [
                (_fitting(layout, layouts, pap), pap, None, 0)  # type: ignore[arg-type]
                for pap in program.of_kind("paper")
            ][:n],
            False,
        )  # type: ignore[return-value]
    distorts = program.of_kind("distort")
    if not distorts and program.of_kind("corpus"):
        return _corpus_jobs(program, shipped, program.of_kind("corpus")[0], n), False  # type: ignore[arg-type]
    if not distorts:
        _err("the spec declares no layout, paper or distort to preview")
        return None
    return ([(layout, paper, None, 0)] + [(layout, paper, d, 0) for d in distorts])[: max(n, 2)], True  # type: ignore


def _corpus_jobs(program: Program, shipped: Program | None, corpus: Corpus, n: int) -> list[Job]:
    """n items of a corpus's render mix, each drawn from its own stream as a build would."""
    from ..draw import stream
    from .mix import draw_render

    def find(kind: str, name: str) -> object:
        for p in (program, shipped):
            if p is not None and (kind, name) in p.decls:
                return p.decls[(kind, name)]
        raise KeyError(name)  # the checker guarantees the references exist

    jobs: list[Job] = []
    for i in range(n):
        choice = draw_render(corpus, stream(program.hash_of("corpus", corpus.name), "preview", i))
        jobs.append(
            (
                find("layout", choice.layout),
                find("paper", choice.paper),  # type: ignore[arg-type]
                find("distort", choice.distort) if choice.distort else None,
                i,
            )
        )
    return jobs


def _fitting(preferred: Layout, layouts: list[Layout], paper: Paper) -> Layout:
    """`preferred` when its rows fit across the paper's page, else the first layout that does."""
    from .layout import PULSE_SECONDS, page_size

    def fits(lay: Layout) -> bool:
        width = page_size(paper)[0] - 2 * paper.margin
        columns = max(len(row) for row in lay.leads)
        strip = lay.rhythm_duration or columns * lay.column
        pulse = math.ceil((PULSE_SECONDS * paper.speed + 2.0) / paper.minor) * paper.minor if lay.calibration else 0
        return max(columns * lay.column, strip) * paper.speed + pulse <= width + 1e-6

    return next((lay for lay in [preferred, *layouts] if fits(lay)), preferred)


def contact_sheet(
    tiles: list[tuple[np.ndarray | str, str]], width: int = 480, columns: int | None = None
) -> np.ndarray:
    """A grid of thumbnails, each with a caption; a string instead of an image is an error tile."""
    import cv2
    import numpy as np
    from PIL import Image, ImageDraw

    columns = columns or min(4, max(1, math.ceil(math.sqrt(len(tiles)))))
    rows = math.ceil(len(tiles) / columns)
    thumbs: list[np.ndarray | str] = []
    heights = []
    for img, _ in tiles:
        if isinstance(img, np.ndarray):
            h = round(img.shape[0] * width / img.shape[1])
            thumbs.append(cv2.resize(img, (width, h), interpolation=cv2.INTER_AREA))
            heights.append(h)
        else:
            thumbs.append(img)
    cell_h = max(heights or [round(width * 0.77)])
    gap, caption = 12, 34
    sheet = Image.new("RGB", (columns * (width + gap) + gap, rows * (cell_h + caption + gap) + gap), "#e6e6e6")
    draw = ImageDraw.Draw(sheet)
    font = _tile_font(13)
    for i, (thumb, (_, label)) in enumerate(zip(thumbs, tiles, strict=True)):
        x = gap + (i % columns) * (width + gap)
        y = gap + (i // columns) * (cell_h + caption + gap)
        if isinstance(thumb, np.ndarray):
            sheet.paste(Image.fromarray(thumb), (x, y))
        else:
            draw.rectangle((x, y, x + width - 1, y + cell_h - 1), fill="#fff4f4", outline="#c33")
            for k, line in enumerate(textwrap.wrap(thumb, 60)[:12]):
                draw.text((x + 10, y + 10 + 17 * k), line, fill="#a11", font=font)
        for k, line in enumerate(label.split("\n")[:2]):
            draw.text((x + 2, y + cell_h + 3 + 15 * k), line, fill="#222", font=font)
    return np.asarray(sheet)


def _declares_drawing(program: Program, name: str) -> bool:
    return any((k, name) in program.decls for k in ("layout", "paper", "distort", "corpus"))


def preview_source(program: Program, shipped: Program | None, args: argparse.Namespace) -> int:
    """The sheet of `preview SPEC SOURCE`: the source's first n records, one tile each, on one
    layout and paper; a record the build would leave out is a red tile with the reason."""
    from ..sources import SourceError

    programs = [p for p in (program, shipped) if p is not None]
    layout = lookup_in(programs, "layout", args.layout or "4x3")
    paper = lookup_in(programs, "paper", args.paper or "standard")
    if layout is None or paper is None:
        return 1
    reader = open_named_source(program, args.spec, args.name, args.data_root)
    if isinstance(reader, int):
        return reader
    from ..errors import format_diagnostic
    from .api import render_page

    dpi = args.dpi if args.dpi is not None else 100.0
    tiles: list[tuple[np.ndarray | str, str]] = []
    try:
        for ref in reader.refs(args.split):
            if len(tiles) >= args.n:
                break
            label = f"{ref.key}" + (f" · {ref.split}" if ref.split else "")
            try:
                record = reader.read(ref)
                label += f" · {record.fs:g} Hz · {record.duration:g} s\n" + (", ".join(ref.labels) or "no labels")
                result = render_page(record, layout, paper, dpi=dpi)
                tiles.append((result.array, label))
            except (RecordError, RenderError) as exc:
                tiles.append((str(exc), label + "\nleft out by a build"))
    except SourceError as exc:
        print(format_diagnostic(exc.diagnostic, program.sources, sys.stderr.isatty()), file=sys.stderr)
        return 1 if exc.diagnostic.code != "unknown-split" else 2
    if not tiles:
        _err(
            f"source '{reader.name}' lists no records"
            + (f" in split '{args.split}'" if args.split else "")
            + (f" ({len(reader.skipped)} skipped while listing: see `ecgspec sources`)" if reader.skipped else "")
        )
        return 1
    failed = _write_sheet(tiles, args.out, args.width)
    if failed is None:
        return 1
    print(
        f"wrote {args.out}: {len(tiles)} records of source {reader.name}, layout {layout.name}, paper {paper.name}"
        + (f"; {failed} could not be read or drawn (see the red tiles)" if failed else "")
        + (f"; {len(reader.skipped)} skipped while listing (see `ecgspec sources`)" if reader.skipped else ""),
        file=sys.stderr,
    )
    return 0


def cmd_preview(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..records import read_wfdb
    from .api import render_page, spec_hash_of

    spec = Path(args.spec)
    if not spec.is_file():
        parser.error(f"no such spec file: {args.spec}")
    program = load_specs([spec], args)
    if program is None:
        return 1
    needs_shipped = not program.of_kind("layout") or not program.of_kind("paper")
    shipped = load_specs(None, args) if needs_shipped else None
    if args.name is not None and args.name in source_names(program) and not _declares_drawing(program, args.name):
        return preview_source(program, shipped, args)
    if args.layout or args.paper or args.split:
        parser.error("--layout, --paper and --split go with a source NAME")
    found = _jobs(program, shipped, args.name, args.n)
    if found is None:
        return 1
    jobs, distorted = found
    folder = Path(args.records) if args.records else SHIPPED_RECORDS
    paths = shipped_records(folder)
    if not paths:
        _err(f"no WFDB records (*.hea) under {folder}")
        return 1
    # Distortions are previewed at the paper's own resolution: their pixel sizes are meant for it.
    dpi = args.dpi if args.dpi is not None or distorted else 100.0
    records: dict[Path, object] = {}
    tiles: list[tuple[np.ndarray | str, str]] = []
    for i, (layout, paper, distort, seed) in enumerate(jobs):
        path = paths[0] if distorted else paths[i % len(paths)]
        if distort is not None:
            label = f"distort {distort.name} · seed {seed}\n"
        elif distorted:
            label = f"clean · layout {layout.name} · paper {paper.name}\n{path.name}"
        else:
            label = f"layout {layout.name} · paper {paper.name}\n{path.name}"
        try:
            if path not in records:
                records[path] = read_wfdb(path)
            spec_hash = (
                spec_hash_of([p for p in (program, shipped) if p is not None], layout.name, paper.name, distort.name)
                if distort is not None
                else ""
            )
            result = render_page(records[path], layout, paper, distort=distort, seed=seed, spec_hash=spec_hash, dpi=dpi)
            if distort is not None:
                label += ", ".join(d["op"] for d in result.sidecar.distortions) or "(no step fired)"
            tiles.append((result.array, label))
        except (RecordError, RenderError) as exc:
            tiles.append((str(exc), label))
    failed = _write_sheet(tiles, args.out, args.width)
    if failed is None:
        return 1
    print(
        f"wrote {args.out}: {len(tiles)} thumbnails"
        + (f", {failed} could not render (see the red tiles)" if failed else ""),
        file=sys.stderr,
    )
    return 0


# ---- wiring -------------------------------------------------------------------------------------


def _ground_truth_kinds(text: str) -> tuple[str, ...]:
    """`--ground-truth masks,coordinates` → the kinds; `all` for every one."""
    from .ground_truth import KINDS, check_kinds

    words = [w.strip() for w in text.split(",") if w.strip()]
    if words == ["all"]:
        return KINDS
    try:
        return check_kinds(words)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _spec_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-D", dest="define", action="append", default=[], metavar="NAME=VALUE", help="override a `let` constant"
    )
    p.add_argument("--root", type=Path, default=None, help="spec root: imports may not leave it")
    p.add_argument(
        "--data-root",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder outside the spec root that a source may read (repeatable)",
    )


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `render` and `preview` on the `ecgspec` command's subparsers."""
    p = subparsers.add_parser(
        "render",
        help="render a record as a calibrated ECG printout (PNG + JSON sidecar)",
        description="Render one record with a layout and a paper, optionally "
        "distorted: a WFDB record path, or SPEC:SOURCE/RECORD, the record of key RECORD "
        "of a source SPEC declares, read as a build reads it. Writes OUT.png, OUT.json "
        "(geometry sidecar), with --svg OUT.svg (the clean page) and, with --ground-truth, the page's "
        "digitisation ground truth.",
    )
    p.add_argument(
        "record",
        metavar="RECORD",
        help="WFDB record path without extension, or SPEC:SOURCE/RECORD (e.g. specs/sources.ecg:ptbxl/00001)",
    )
    p.add_argument(
        "--spec",
        action="append",
        type=Path,
        metavar="FILE",
        help="spec file declaring layouts, papers and distortions (repeatable; default: the "
        "shipped specs/layouts.ecg, papers.ecg, printouts.ecg and distortions.ecg)",
    )
    p.add_argument("--layout", default="4x3", help="layout name (default: 4x3)")
    p.add_argument("--paper", default="standard", help="paper name (default: standard)")
    p.add_argument(
        "--distort", metavar="NAME", default=None, help="distortion pipeline to apply (default: none, a clean page)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the item's variant: with the spec and the record, it fixes every random draw",
    )
    p.add_argument("--dpi", type=float, default=None, help="override the paper's resolution")
    p.add_argument("--svg", action="store_true", help="also write OUT.svg")
    p.add_argument(
        "--reference",
        action="store_true",
        help="rasterise through SVG and cairosvg instead of the fast direct cairo path",
    )
    p.add_argument(
        "-o",
        "--out",
        required=True,
        type=Path,
        metavar="OUT.png",
        help="output image: PNG, or JPEG when it ends in .jpg or .jpeg",
    )
    p.add_argument(
        "--quality", type=int, default=None, metavar="Q", help="JPEG quality, 1-100 (default: 92); PNG is lossless"
    )
    p.add_argument(
        "--ground-truth",
        type=_ground_truth_kinds,
        default=(),
        metavar="KINDS",
        help="digitisation ground truth beside the image, comma-separated: masks (OUT.mask.png, lead index + 1 "
        "per pixel), coordinates (OUT.coords.npz, every sample in final pixels), boxes (text boxes in the "
        "sidecar), coco (OUT.coco.json), yolo (OUT.yolo.txt); or all",
    )
    _spec_options(p)
    p.set_defaults(func=cmd_render)

    p = subparsers.add_parser(
        "preview",
        help="a contact sheet of a spec's layouts, papers or distortions, or of a source's records",
        description="Render the shipped sample records with a spec's layouts, papers or "
        "distortions and tile them into one labelled PNG. NAME picks one layout, "
        "paper or distort; without it: every layout on the first paper, or every "
        "paper with the 4x3 layout, or every distort beside the clean page. A "
        "named distort is shown over several seeds beside the clean page. A NAME that is "
        "a source of SPEC shows its first records instead (--layout, --paper), each read as a "
        "build reads it; a record the build would leave out is a red tile with the reason.",
    )
    p.add_argument("spec", metavar="SPEC", help="spec file")
    p.add_argument(
        "name", nargs="?", metavar="NAME", help="a layout, paper, distort, corpus or source declared in SPEC"
    )
    p.add_argument("--layout", default=None, help="with a source NAME: the layout (default: 4x3)")
    p.add_argument("--paper", default=None, help="with a source NAME: the paper (default: standard)")
    p.add_argument("--split", default=None, help="with a source NAME: only this split part")
    p.add_argument("-n", type=int, default=12, help="number of thumbnails (default: 12)")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="SHEET.png", help="output PNG")
    p.add_argument("--records", metavar="DIR", help="folder of WFDB records (default: the shipped samples)")
    p.add_argument("--width", type=int, default=480, help="thumbnail width in pixels (default: 480)")
    p.add_argument(
        "--dpi",
        type=float,
        default=None,
        help="render resolution before shrinking (default: 100; distortions: the paper's own)",
    )
    _spec_options(p)
    p.set_defaults(func=cmd_preview)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecgspec")
    add_commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    return int(args.func(args, parser))


if __name__ == "__main__":
    sys.exit(main())
