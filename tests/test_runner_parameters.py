"""The runner leaves one visible parameter block per executed chapter: the values used, defaults folded away."""

import nbformat

from lesionmap.publish.runner import PARAMETER_HEADER, merge_parameter_cells


def _notebook(path, injected=True):
    cells = [
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell(
            'cohort = "mcrc"  # the cohort\nseed = 20230417  # the seed\nk = 5  # clusters',
            metadata={"tags": ["parameters"]},
        ),
    ]
    if injected:
        cells.append(
            nbformat.v4.new_code_cell(
                '# Parameters\nseed = 7\nbuild_dir = "_b"\n', metadata={"tags": ["injected-parameters"]}
            )
        )
    nbformat.write(nbformat.v4.new_notebook(cells=cells), str(path))


def test_the_injected_cell_lists_every_value_used_and_the_defaults_are_removed(tmp_path):
    path = tmp_path / "chapter.ipynb"
    _notebook(path)
    merge_parameter_cells(path)
    cells = nbformat.read(str(path), as_version=4).cells
    assert "remove-cell" in cells[1].metadata["tags"]
    assert cells[2].source.splitlines() == [
        PARAMETER_HEADER,
        'cohort = "mcrc"  # the cohort',
        "seed = 7  # the seed",
        "k = 5  # clusters",
        'build_dir = "_b"',
    ]
    assert "remove-cell" not in cells[2].metadata["tags"]
    merge_parameter_cells(path)
    assert nbformat.read(str(path), as_version=4).cells[2].source == cells[2].source  # merging twice changes nothing


def test_without_an_injected_cell_the_defaults_stay_visible(tmp_path):
    path = tmp_path / "chapter.ipynb"
    _notebook(path, injected=False)
    merge_parameter_cells(path)
    assert "remove-cell" not in nbformat.read(str(path), as_version=4).cells[1].metadata["tags"]
