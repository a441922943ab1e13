from netrepl.cli import main

raise SystemExit(main())
