from onemount.cli import main

raise SystemExit(main())
