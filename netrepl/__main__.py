"""`python -m netrepl`: the same entry point as the console script."""

from netrepl.entry import main

raise SystemExit(main())
