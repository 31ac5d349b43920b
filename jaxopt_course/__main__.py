"""``python -m jaxopt_course`` is the ``jaxopt-course`` command."""

import sys

from jaxopt_course.cli import main

sys.exit(main())
