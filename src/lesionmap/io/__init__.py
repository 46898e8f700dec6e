"""Reading CDISC SDTM into the analysis tables, with validation and a report of what was set aside.

data = read_sdtm("path/to/sdtm")          # dm, suppdm, tu, tr, rs, adtte as .xpt/.sas7bdat/.csv/.parquet
data.patients, data.lesions, data.measurements, data.lesion_status, data.exclusions
data.report, data.report_counts(), data.consort()
mapping = load_mapping("my_map.yaml")     # site map, nodal organs, arm map, SUPPDM qualifiers, evaluator
"""

from lesionmap.io.analysis import AnalysisData
from lesionmap.io.errors import MappingError, SDTMError
from lesionmap.io.sdtm import read_sdtm
from lesionmap.io.sitemap import Mapping, load_mapping
from lesionmap.io.validation import TableLinkError, validate_tables

__all__ = [
    "SCHEMAS",
    "AnalysisData",
    "Mapping",
    "MappingError",
    "SDTMError",
    "TableLinkError",
    "load_mapping",
    "read_sdtm",
    "validate_tables",
]


def __getattr__(name: str):
    """``SCHEMAS`` on first use: it imports pandera, which chapters reading cached tables never need."""
    if name == "SCHEMAS":
        from lesionmap.io.schemas import SCHEMAS

        return SCHEMAS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
