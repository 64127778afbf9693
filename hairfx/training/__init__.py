"""Training, evaluation and benchmarking of the hair-mask network.

Not imported by the runtime API: :mod:`hairfx.segmenter` needs only the shipped weights.
Entry points: ``hairfx train``, ``hairfx evaluate`` and ``hairfx bench-mask``. Training
needs the train extra (``pip install "hairfx[train]"``: PyTorch and threadpoolctl);
``evaluate`` and ``bench-mask`` need PyTorch only for the torch backend.
"""
