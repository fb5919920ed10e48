"""course_lib: the reference implementations behind the LLM workbook.

Each module holds one idea of the course and names the notebook that teaches it.
Importing the package does nothing else: no downloads, no global state, and no
heavy optional imports. Import the module you need, e.g.
``from course_lib.profiles import get_profile``.
"""

__version__ = "0.1.0"
