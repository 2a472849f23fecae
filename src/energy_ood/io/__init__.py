"""File input and output: regular files read within limits (``regular_files``,
``size_limits``), bounded decompression (``decompress``), ``.npz`` members (``npz``), bounded
JSON (``bounded_json``), ``torch.load`` with ``weights_only`` (``torch_load``), one array of
numbers from .npy/.npz/.pt/.csv (``arrays``), outputs checked before any work
(``output_checks``) and written atomically (``atomic_write``)."""
