"""``SqlTx``: the ``MetadataTx`` of the SQL store, assembled from one part per concern."""

from __future__ import annotations

from modelreg.metadata.base import MetadataTx
from modelreg.metadata.sql.aliases import AliasesTx
from modelreg.metadata.sql.catalog import CatalogTx
from modelreg.metadata.sql.evaluations import EvaluationsTx
from modelreg.metadata.sql.exports import ExportsTx
from modelreg.metadata.sql.grants import GrantsTx
from modelreg.metadata.sql.inferences import InferencesTx
from modelreg.metadata.sql.jobs import JobsTx
from modelreg.metadata.sql.search import SearchTx
from modelreg.metadata.sql.tokens import TokensTx
from modelreg.metadata.sql.versions import VersionsTx


class SqlTx(CatalogTx, VersionsTx, EvaluationsTx, InferencesTx, ExportsTx, JobsTx, AliasesTx, SearchTx, TokensTx,
            GrantsTx, MetadataTx):
    """One transaction on one connection; the store opens, commits and closes it."""
