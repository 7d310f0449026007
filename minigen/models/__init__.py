"""minigen.models: whole networks built from minigen.nn layers."""
from .unet import UNet  # noqa: F401
