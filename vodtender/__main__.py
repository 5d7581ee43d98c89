from vodtender.cli.main import main

raise SystemExit(main())
