# The pipeline fixtures: step messages recorded instead of sent, a real source image.
from jobs.tests.conftest import sent, source  # noqa: F401
