"""Config fields that C1 and C2 share (each experiment gives its own defaults)."""

from __future__ import annotations

from jaxopt_course.data import mnist
from jaxopt_course.experiments.config import param
from jaxopt_course.models.classifier import ACTIVATION_NAMES, INITS
from jaxopt_course.validation import each, existing_directory, one_of, positive, positive_int


def hidden(default: tuple):
    """Hidden-layer widths of the MLP."""
    return param(default, "hidden-layer widths of the MLP (input: the image's pixels, output: 10 classes)",
                 check=each(positive_int))


def activation():
    """The hidden layers' activation."""
    return param("relu", "activation of the hidden layers", check=one_of(ACTIVATION_NAMES))


def use_bias(default: bool):
    """Whether the layers have biases."""
    return param(default, "whether every layer has a bias b_l")


def initializer():
    """The initialization rule."""
    return param("uniform", "initialization: uniform U(+-1/sqrt(n_in)) (PyTorch's nn.Linear), he N(0, 2/n_in), "
                            "lecun N(0, 1/n_in)", check=one_of(INITS))


def learning_rate(default: float, optimizer: str):
    """The optimizer's step size, a vmapped axis."""
    return param(default, f"{optimizer} learning rate gamma", check=positive, vmap=True)


def batch_size(default: int):
    """Minibatch size."""
    return param(default, "minibatch size B (the last batch of an epoch is padded with weight-0 examples)",
                 check=positive_int)


def epochs(default: int):
    """Epochs of training."""
    return param(default, "epochs (passes over the training split in a fresh random order)", check=positive_int)


def source(default: str = "auto"):
    """Where the data come from."""
    return param(default, "data: auto (IDX files in data_dir, else tensorflow-datasets, else the offline digits), "
                          "tfds, idx or digits", check=one_of(mnist.SOURCES))


def data_dir():
    """The data directory."""
    return param(None, "directory of MNIST IDX files or a tfds directory (source digits: one holding digits.npz); "
                       "none: $JAXOPT_COURSE_DATA_DIR for MNIST, the set-up's cache for the digits",
                 check=existing_directory)
