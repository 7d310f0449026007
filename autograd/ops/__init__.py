"""The ops, one file per family. Each op is a `Function` with `forward` on raw
arrays and `backward` written with Tensor ops, its VJP derived in a comment."""
from . import elementwise, reduce, shape, linalg, softmax  # noqa: F401
from . import norm, attention  # noqa: F401
from . import conv, pool  # noqa: F401
