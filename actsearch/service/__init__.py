"""The library service: what the faces (the CLI and the API) call, and nothing else does.

Each function takes plain options or a storage and returns typed results; the faces only parse
input and render output. It wires the layers below together (a search publishes its
recommendation, a confirmation runs after a search) and never imports a face.
"""

from actsearch.recommend.confirm import ConfirmOptions
from actsearch.recommend.forest import forest_text
from actsearch.recommend.recommendation import Budget, FrontMember, Recommendation
from actsearch.recommend.similar import Similar, UnseenAnswer, evidence, meta_from_csv
from actsearch.recommend.similar import similar_datasets as similar
from actsearch.recommend.stats import verdict_word
from actsearch.search.figures import LazyFigureStore
from actsearch.search.options import Progress, SearchOptions, SearchResult, TrialOutcome
from actsearch.search.spaces import available_spaces
from actsearch.search.strategy import Strategy, is_activation_param
from actsearch.service.background import BackgroundSearches, RunStatus, TooManySearchesError
from actsearch.service.exports import export, export_to
from actsearch.service.recommendations import (
    FileAnswer,
    KnownDataset,
    for_file,
    known_datasets,
    recommend_dataset,
    recommendation,
    studies_if_any,
)
from actsearch.service.searches import confirm, run_search
from actsearch.service.studies import (
    StudyDetail,
    StudyInfo,
    TrialRow,
    delete_study,
    list_studies,
    show_study,
)
from actsearch.store.database import ReaderStorage, open_storage
from actsearch.store.studies import recorded_artifacts_dir
from actsearch.train.data import dataset_names

__all__ = [
    "BackgroundSearches", "Budget", "ConfirmOptions", "FileAnswer", "FrontMember",
    "KnownDataset", "LazyFigureStore",
    "Progress", "ReaderStorage", "Recommendation", "RunStatus", "SearchOptions", "SearchResult",
    "Similar", "Strategy", "StudyDetail", "StudyInfo", "TooManySearchesError", "TrialOutcome",
    "TrialRow", "UnseenAnswer", "available_spaces", "confirm", "dataset_names", "delete_study",
    "evidence", "export", "export_to", "for_file", "forest_text", "is_activation_param",
    "known_datasets",
    "list_studies", "meta_from_csv", "open_storage", "recommend_dataset", "recommendation",
    "recorded_artifacts_dir", "run_search", "show_study", "similar", "studies_if_any",
    "verdict_word",
]
