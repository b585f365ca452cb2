from quietline.cli import main

raise SystemExit(main())
