"""Data: loaders per format, the Dataset with its id maps, the data home, synthetic sets."""

from movierec.data.dataset import Dataset, RatingScale
from movierec.data.folder import load_dataset_folder, save_dataset_folder
from movierec.data.home import data_home, fetch
from movierec.data.idmap import IdMap
from movierec.data.load import load_movielens, load_user_attributes
from movierec.data.synth import synthetic_dataset, synthetic_ratings

__all__ = [
    "Dataset",
    "IdMap",
    "RatingScale",
    "data_home",
    "fetch",
    "load_dataset_folder",
    "load_movielens",
    "load_user_attributes",
    "save_dataset_folder",
    "synthetic_dataset",
    "synthetic_ratings",
]
