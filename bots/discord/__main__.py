from bots.discord.app import main

raise SystemExit(main())
