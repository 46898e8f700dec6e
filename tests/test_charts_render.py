"""Chart specifications compile and draw in Vega (vl-convert), without a browser.

A spec error shows in the book only as a red message where the chart should be; these tests catch it at
the builder, for the layouts a cohort can produce.
"""

import pytest
import vl_convert

from lesionmap import charts
from lesionmap.charts.data import consort_chart


def draws(chart) -> bool:
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    return svg.startswith("<svg") and 'class="mark-rect' in svg


@pytest.mark.parametrize(
    "exclusions",
    [
        {},
        {"no longitudinal target measurement": 30},
        {"baseline scan > 12 weeks before treatment": 100, "no longitudinal target measurement": 313},
    ],
)
def test_consort_chart_draws_with_any_number_of_exclusion_rules(exclusions):
    charts.setup()
    chart = consort_chart(
        4308 + sum(exclusions.values()), exclusions, 4308, {"target": 19192, "non-target": 18350, "new": 2861}, 94631
    )
    assert draws(chart)
    labels = [box["label"] for box in chart.layer[1].data.to_dict(orient="records")]
    assert f"Patients analysed: {4308:,}" in labels and sum("Excluded" in label for label in labels) == len(exclusions)


def test_forest_chart_leaves_out_rows_it_cannot_draw_and_says_so():
    import numpy as np
    import pandas as pd

    from lesionmap.charts.figures import forest_chart

    table = pd.DataFrame(
        {
            "organ": ["liver", "lung", "kidney"],
            "hr": [1.5, 0.5, 0.0],
            "lower": [1.2, 0.3, 0.0],
            "upper": [1.9, 0.8, np.inf],
        }
    )
    chart = forest_chart(table, "Fig. 3b")
    assert "mark-rule" in vl_convert.vegalite_to_svg(chart.to_dict())
    assert list(chart.layer[1].data["organ"]) == ["liver", "lung"]
    assert "1 row(s)" in chart.title.subtitle
    with pytest.raises(ValueError, match="no row"):
        forest_chart(table.iloc[[2]], "empty")
