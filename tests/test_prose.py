"""No typed numbers and no typed verdicts in the book's prose (COMMON rule "Numbers in prose").

Every chapter and appendix source (``book/**/*.md``) is scanned, Markdown only: front matter, code cells and
code-like fences (``{code-cell}``, plain or language fences, ``{math}``, ``{bibliography}``...) are skipped,
directive options (``:class: warning``) too; the text of admonitions and other prose directives is scanned.

What is allowed, and removed before the scan:

- roles: ``{glue:text}`` and every other ``{glue...}`` role (computed numbers), ``{paper}`` (a value quoted
  from the article, rendered "... (paper)"), ``{doc}``, ``{ref}``, ``{numref}``, ``{cite...}``, ``{math}``,
  ``{eq}``, ``{download}``, ``{term}``;
- inline code, math (``$...$``, ``$$...$$``), Markdown links (label and target), substitutions ``{{...}}``,
  HTML comments and targets ``(label)=``;
- references to the paper's or the book's panels and parts: "Fig. 4c", "Figs. 2b-d", "Supplementary Fig. 6a-b",
  "Table 1", "Supplementary Table 2", "Supplementary Data 1", "Chapter 3", "Section 2", "Appendix A";
- the names and versions of standards and tools ("RECIST 1.1", "Python 3", "CC BY 4.0": see ``VERSIONED``);
- the number of an enumerated list item (``1. ``) at the start of a line.

What is a violation:

1. **A digit in prose**: a number that stands as a word (not part of an identifier such as ``M3`` or ``V0``).
2. **A typed verdict**, in three forms:

   - a *claim phrase* anywhere in typed prose ("as the paper found", "as in the paper", "consistent with the
     paper", "reversed", "significantly", "N times", "half of"...): such a phrase always asserts a result;
   - a *comparative word* ("higher", "lower", "faster", "slower", "sooner", "later", "differ", "better",
     "worse", "holds"...) in a sentence that also shows a glued number: the number is computed, but the
     comparison typed beside it is not, and it is wrong when the numbers turn the other way. The same word in
     a sentence without any glued value is a statement of method ("a ratio above 1 means the event comes
     sooner") and is allowed: that is what keeps false positives low. So are "better in <glued count>"
     (the count of comparisons is itself computed), "holds the ..." (a verb of containing) and superlatives
     ("highest at k = <glued>" names a computed argmax);
   - any comparative or superlative in a heading that is not a question ("Do the parameters differ?" is fine).

   A verdict that is itself glued (computed in a hidden cell) is inside a role and never seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "book").rglob("*.md"))

#: Fences whose content is code, not prose.
CODE_FENCES = {
    "code-cell",
    "code-block",
    "code",
    "sourcecode",
    "math",
    "raw",
    "bibliography",
    "eval-rst",
    "mermaid",
    "glue:figure",
    "glue:math",
}
#: Roles whose content is computed, quoted from the paper, or a reference.
ALLOWED_ROLES = r"glue(?::\w+)?|paper|doc|ref|numref|cite(?::\w+)?|math|eq|download|term|abbr"
#: Standards and tools whose names carry a version number.
VERSIONED = (
    r"RECIST|ISO|Python|R|saemix|coxme|CC[ -]BY|Jupyter[ -]Book|Monolix|SAS|XPT|Sphinx|MathJax|Vega(?:-Lite)?"
    r"|Chromium|CDISC|SDTMIG|HTML|Nat(?:ure)? Commun(?:ications)?"
)

_ROLE = re.compile(r"\{(" + ALLOWED_ROLES + r")\}`[^`]*`")
_GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`[^`]*`")
_INLINE_CODE = re.compile(r"``.+?``|`[^`]*`")
_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.DOTALL)
_LINK = re.compile(r"!?\[[^\]]*\]\([^)]*\)|<https?://[^>]*>|https?://\S+")
_SUBSTITUTION = re.compile(r"\{\{[^}]*\}\}")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_REFERENCE = re.compile(
    r"\b(?:Supplementary\s+|Extended\s+Data\s+)?(?:Fig(?:ure)?s?\.?|Tables?|Chapters?|Sections?|Appendix|Appendices"
    r"|Data|Eq(?:uation)?s?\.?|Notes?)\s+[A-Z]?\d+[a-z]?"
    r"(?:\s*(?:[-–,]|and|to|&)\s*(?:(?:Fig\.?|Table)\s+)?\d*[a-z]?(?![\w]{2}))*"
)
_VERSION = re.compile(r"\b(?:" + VERSIONED + r")\s+v?\d+(?:[.\-]\w+)*(?::\d+)?")
_LIST_NUMBER = re.compile(r"^\s*\d+[.)]\s", re.MULTILINE)
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|vs|et al|cf|approx|resp|incl|no)\.", re.IGNORECASE)

_NUMBER = re.compile(r"(?<![\w\x00\x01])\d+(?:[.,]\d+)*(?:st|nd|rd|th)?(?![A-Za-z])")
_CLAIM = re.compile(
    r"\b(?:as the paper (?:found|reports|reported|says|describes)|as in the paper|like the paper"
    r"|consistent with the paper|agrees? with the paper|matches the paper|confirm(?:s|ed|ing)?"
    r"|reproduc(?:es|ed) the paper|revers(?:ed|es)|significantly|(?:two|three|four|five|six|seven|eight|nine|ten)"
    r"\s+times\s+(?:the|as|higher|lower|more|less|larger|smaller|faster|slower)|twice as|half of (?:the|all)"
    r"|the majority of)\b",
    re.IGNORECASE,
)
_COMPARATIVE = re.compile(
    r"\b(?:higher|lower|faster|slower|sooner|later|earlier|longer|shorter|larger|smaller|better|worse|differ|differs"
    r"|differed|different|holds(?!\s+(?:the|a|an|all|every|one)\b)|more likely|less likely|exceeds?|outperforms?"
    r"|deeper|significant)\b(?!\s+in\s+\x01)",
    re.IGNORECASE,
)
_SUPERLATIVE = re.compile(
    r"\b(?:highest|lowest|fastest|slowest|largest|smallest|best|worst|deepest|most likely"
    r"|least likely)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


@dataclass(frozen=True)
class Violation:
    line: int
    kind: str
    text: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.kind}: {self.text}"


def prose_blocks(text: str) -> list[tuple[int, str, bool]]:
    """``(first line number, paragraph text, is_heading)`` for every stretch of Markdown prose."""
    lines = text.splitlines()
    blocks: list[tuple[int, str, bool]] = []
    paragraph: list[str] = []
    start = 0
    fence: tuple[str, bool] | None = None  # (closing marker, content is prose)
    index = 0

    def flush():
        nonlocal paragraph
        if paragraph:
            blocks.append((start + 1, "\n".join(paragraph), False))
        paragraph = []

    if lines and lines[0].strip() == "---":
        index = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), len(lines) - 1) + 1
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        opener = re.match(r"^\s*(`{3,}|~{3,}|:{3,})\s*(\{([\w:-]+)\}|[\w+-]*)\s*(.*)$", line)
        if fence is not None and re.match(r"^\s*" + re.escape(fence[0]) + r"\s*$", line):
            flush()
            fence = None
        elif fence is None and opener:
            flush()
            marker, directive, title = opener.group(1), opener.group(3), opener.group(4)
            is_prose = directive is not None and directive not in CODE_FENCES
            fence = (marker, is_prose)
            if is_prose and title:
                blocks.append((index + 1, title, False))
        elif fence is not None and not fence[1]:
            pass
        elif fence is not None and re.match(r"^\s*:[\w-]+:", line) and not paragraph:
            pass
        elif not stripped or re.match(r"^\(.+\)=\s*$", stripped):
            flush()
        elif stripped.startswith("#"):
            flush()
            blocks.append((index + 1, stripped.lstrip("#").strip(), True))
        else:
            if not paragraph:
                start = index
            paragraph.append(line)
        index += 1
    flush()
    return blocks


def _mask(text: str, pattern: re.Pattern, filler: str = "\x00") -> str:
    return pattern.sub(lambda m: "".join(c if c == "\n" else filler for c in m.group(0)), text)


def masked(text: str) -> str:
    """The prose with everything allowed blanked out (same length, glued spans as ``\\x01``)."""
    text = _mask(text, _COMMENT)
    text = _mask(text, _GLUE_ROLE, "\x01")
    text = _mask(text, _ROLE)
    text = _mask(text, _INLINE_CODE)
    text = _mask(text, _MATH)
    text = _mask(text, _LINK)
    text = _mask(text, _SUBSTITUTION)
    text = _mask(text, _REFERENCE)
    text = _mask(text, _VERSION)
    text = _mask(text, _LIST_NUMBER)
    return _ABBREVIATION.sub(lambda m: m.group(0).replace(".", " "), text)


def _excerpt(text: str, start: int, end: int) -> str:
    return " ".join(text[max(0, start - 40) : end + 40].split())


def scan_text(text: str) -> list[Violation]:
    """Every typed number and typed verdict in the Markdown prose of one source."""
    violations = []
    for first_line, block, is_heading in prose_blocks(text):
        clean = masked(block)

        def line_of(position: int) -> int:
            return first_line + block.count("\n", 0, position)

        for match in _NUMBER.finditer(clean):
            violations.append(
                Violation(
                    line_of(match.start()),
                    f"typed number '{match.group(0)}'",
                    _excerpt(block, match.start(), match.end()),
                )
            )
        for match in _CLAIM.finditer(clean):
            violations.append(
                Violation(
                    line_of(match.start()),
                    f"typed verdict '{match.group(0)}'",
                    _excerpt(block, match.start(), match.end()),
                )
            )
        if is_heading:
            if not block.rstrip().endswith("?"):
                for pattern in (_COMPARATIVE, _SUPERLATIVE):
                    for match in pattern.finditer(clean):
                        violations.append(
                            Violation(line_of(match.start()), f"heading asserts '{match.group(0)}'", block)
                        )
            continue
        sentence_start = 0
        for end in [m.end() for m in _SENTENCE_END.finditer(clean)] + [len(clean)]:
            sentence = clean[sentence_start:end]
            if "\x01" in sentence:
                for match in _COMPARATIVE.finditer(sentence):
                    position = sentence_start + match.start()
                    violations.append(
                        Violation(
                            line_of(position),
                            f"typed verdict '{match.group(0)}' beside a glued value",
                            _excerpt(block, position, position + len(match.group(0))),
                        )
                    )
            sentence_start = end
    return sorted(violations, key=lambda v: v.line)


def scan_file(path: Path) -> list[Violation]:
    return scan_text(Path(path).read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_prose_has_no_typed_numbers_or_verdicts(path):
    violations = scan_file(path)
    assert not violations, f"{path.relative_to(ROOT)}: {len(violations)} typed number(s)/verdict(s):\n" + "\n".join(
        f"  {path.relative_to(ROOT)}:{v}" for v in violations
    )


PLANTED = """\
---
kernelspec:
  name: python3
---

# Do organs differ?

The cohort has {glue:text}`n_patients` patients, as in Fig. 1a and Supplementary Fig. 6a-b (Table 1,
Chapter 3, RECIST 1.1, `k = 5`, $p < 0.05$, {paper}`653 days`, [PR 12](https://example.org/12)).

```{code-cell} ipython3
x = 4308  # code is not prose
```

Median survival was 653 days.

Liver lesions progress faster (median {glue:text}`liver_median` days).

Bone lesions respond poorly, as the paper found.

## Liver progresses fastest

1. A numbered exercise is fine.

```{admonition} A note
:class: warning

Twelve of 159 patients died.
```
"""


def test_the_scanner_fails_on_planted_numbers_and_verdicts_and_passes_the_allowed_forms():
    found = scan_text(PLANTED)
    by_line = {(v.line, v.kind.split("'")[0].strip()) for v in found}
    lines = PLANTED.splitlines()

    def line_no(fragment):
        return next(i + 1 for i, line in enumerate(lines) if fragment in line)

    assert (line_no("Median survival was"), "typed number") in by_line
    assert (line_no("progress faster"), "typed verdict") in by_line
    assert (line_no("as the paper found"), "typed verdict") in by_line
    assert (line_no("## Liver progresses fastest"), "heading asserts") in by_line
    assert (line_no("159 patients died"), "typed number") in by_line
    allowed = {
        line_no("The cohort has"),
        line_no("Chapter 3, RECIST"),
        line_no("x = 4308"),
        line_no("1. A numbered"),
        line_no("# Do organs differ?"),
        line_no(":class: warning"),
    }
    assert not [v for v in found if v.line in allowed], [str(v) for v in found if v.line in allowed]
    assert len(found) == 5, [str(v) for v in found]


def test_a_comparative_word_without_a_glued_value_is_a_statement_of_method():
    assert scan_text("A hazard ratio above one means the event comes sooner.\n") == []
    assert [v.kind for v in scan_text("It comes sooner ({glue:text}`days` days).\n")] == [
        "typed verdict 'sooner' beside a glued value"
    ]


def test_a_glued_verdict_passes():
    assert (
        scan_text(
            "Liver lesions progress {glue:text}`liver_verdict` than lung lesions "
            "({glue:text}`liver_median` against {glue:text}`lung_median` days).\n"
        )
        == []
    )
