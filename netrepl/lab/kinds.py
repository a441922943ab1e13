"""The table of lab server kinds, for lab/'s users and the front ends: defined a floor down, in
netrepl/base/labkinds.py, where the script checker (language/nrs.py) can import it too.
"""

from netrepl.base.labkinds import *  # noqa: F401,F403
from netrepl.base.labkinds import LabKind  # noqa: F401 (named for readers and type checkers)
