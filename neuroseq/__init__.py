"""neuroseq: MEG and EEG as a language.

Read recordings with MNE conventions, prepare them into a lazily-read zarr store, cut them into
windows and epochs, and (in later modules) tokenize, pretrain, generate and decode.
"""

from neuroseq.data.recording import Recording, Sensors
from neuroseq.errors import DataError, NeuroseqError

__all__ = ["Recording", "Sensors", "DataError", "NeuroseqError", "__version__"]
__version__ = "0.1.0"
