"""minicnn: the companion package of a notebook course on convolutional neural networks.

- `minicnn.functional`: every op as forward and backward functions on numpy arrays (PyTorch names, NCHW),
  running on numba-compiled kernels (`minicnn.kernels`, internal);
- `minicnn.reference`: every op and optimizer step as short readable loops (teaching code and test oracle);
- `minicnn.nn`, `minicnn.init`, `minicnn.optim`, `minicnn.train`, `minicnn.gradcheck`: layers with explicit
  backward passes, initialisation, optimizers, the training loop and numerical gradient checks;
- `minicnn.data`: small datasets that work offline, preprocessing and augmentation;
- `minicnn.plotting`, `minicnn.widgets`, `minicnn.exercises`: the notebooks' figures, explorers and feedback;
- `minicnn.summary`: a network's layer-by-layer table (output shapes, parameters, multiply-adds, activation
  memory, receptive fields), as torchinfo.summary.
- `minicnn.onnx` (imported by name, as torch.onnx): ``export(model, input_shape, path)`` writes a network in
  evaluation mode as an ONNX model for other runtimes (needs the onnx package).
"""
from minicnn import functional
from minicnn.functional import conv_output_size
from minicnn.summary import summary

__version__ = "0.1.0"
__all__ = ["functional", "conv_output_size", "summary", "__version__"]
